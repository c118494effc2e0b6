BsbJ
ף<