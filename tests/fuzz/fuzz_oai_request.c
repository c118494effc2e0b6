/* fuzz_oai_request.c — libFuzzer driver for the OpenAI request parser (chat, completions,
 * embeddings), the response/chunk writers fed from what parsed, and the chat template
 * detector/renderer over the parsed messages (every family). Must never crash or leak. */
#include "llm/chat_template.h"
#include "serve/routes/openai_wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int piece(void *ctx, int32_t tok, char *buf, size_t cap)
{
    (void)ctx;
    int n = snprintf(buf, cap, "<%d>", (int)tok);
    return n < 0 ? -1 : n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int kind = LLM_OAI_CHAT; kind <= LLM_OAI_EMBEDDING; kind++) {
        struct llm_oai_req q;
        char param[64];
        struct inferd_err err = {0};
        if (llm_oai_parse((enum llm_oai_kind)kind, (const char *)data, size, NULL, &q, param, &err) == 0) {
            if (kind == LLM_OAI_CHAT) {
                for (int f = 0; f < CHAT_TMPL_COUNT; f++) {
                    struct chat_tmpl t = {(enum chat_tmpl_family)f, 0xF};
                    char *out = NULL;
                    if (chat_tmpl_render(&t, q.msgs, q.n_msgs, 1, 1 << 20, &out, &err) == 0)
                        free(out);
                }
            }
            if (kind != LLM_OAI_EMBEDDING) {
                struct llm_tok_rec rec = {.id = 3, .logprob = -1.0f, .n_top = 1, .top_id = {3}, .top_lp = {-1.0f}};
                struct llm_oai_out o = {.text = (const char *)data, .len = size, .finish_reason = "stop",
                                        .prompt_tokens = 1, .completion_tokens = 1, .toks = &rec, .n_toks = 1};
                json_t *j = llm_oai_response(&q, &o, "id", 1, "m", piece, NULL);
                json_decref(j);
                free(llm_oai_chunk(&q, &o, 0, "id", 1, "m", piece, NULL));
            }
        }
        llm_oai_req_free(&q);
    }
    /* the raw bytes as a template text */
    char *text = malloc(size + 1);
    if (text) {
        memcpy(text, data, size);
        text[size] = 0;
        struct chat_tmpl t;
        chat_tmpl_detect(text, &t);
        free(text);
    }
    return 0;
}
