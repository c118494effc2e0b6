BsbJ
×#<