/* cli.h — the `inferd` subcommands. main.c dispatches argv[1] to one of these; each lives in
 * its own cli_<name>.c and does argument parsing and printing only — the work belongs to a
 * library part (serve, onnx, llm, client). Each returns the process exit code. */
#ifndef INFERD_CLI_H
#define INFERD_CLI_H

int cli_serve(int argc, char **argv);    /* inferd serve --models DIR --port N ... */
int cli_infer(int argc, char **argv);    /* inferd infer URL MODEL FILE|- [--retries N] ... */
int cli_generate(int argc, char **argv); /* inferd generate MODEL.gguf -p PROMPT ... */
int cli_tokenize(int argc, char **argv); /* inferd tokenize MODEL.gguf TEXT */
int cli_chat(int argc, char **argv);     /* inferd chat URL MODEL */

#endif
