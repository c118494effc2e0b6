BsaJ
×#<