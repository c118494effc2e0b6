/* cli_tokenize.c — `inferd tokenize`: placeholder until its part lands (being built this session). */
#include "cli.h"

#include <stdio.h>

int cli_tokenize(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "inferd tokenize: not built yet\n");
    return 1;
}
