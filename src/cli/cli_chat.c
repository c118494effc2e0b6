/* cli_chat.c — `inferd chat`: placeholder until its part lands (being built this session). */
#include "cli.h"

#include <stdio.h>

int cli_chat(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "inferd chat: not built yet\n");
    return 1;
}
