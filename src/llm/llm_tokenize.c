/* llm_tokenize.c — the tokenizer half of llm.h: wires inferd_llm_tokenize / token_to_piece /
 * token_is_eog to the GGUF tokenizer (tokenizer.h) built at model load. */
#include "llm/llm_int.h"
#include "llm/tokenizer/tokenizer.h"

int llm_tokenizer_attach(struct inferd_llm_model *m, struct inferd_err *err)
{
    struct inferd_llm_info *in = &m->info;
    int rc = tokenizer_from_gguf(m->g, &m->tok, err);
    if (rc == INFERD_ENOTFOUND) { /* weights without a vocabulary: usable with token ids */
        m->tok = NULL;
        if (err) {
            err->code = 0;
            err->msg[0] = 0;
        }
        return 0;
    }
    if (rc < 0)
        return rc;
    in->bos = tokenizer_bos(m->tok);
    in->eos = tokenizer_eos(m->tok);
    in->eot = tokenizer_eot(m->tok);
    in->add_bos = tokenizer_add_bos(m->tok);
    return 0;
}

void llm_tokenizer_detach(struct inferd_llm_model *m)
{
    tokenizer_free(m->tok);
    m->tok = NULL;
}

int inferd_llm_tokenize(const struct inferd_llm_model *m, const char *text, size_t len,
                        int add_special, int parse_special, int32_t *out, int cap)
{
    if (!m->tok)
        return 0;
    int n = tokenizer_encode(m->tok, text, len, add_special, parse_special, out, cap);
    return n < 0 ? 0 : n;
}

int inferd_llm_token_to_piece(const struct inferd_llm_model *m, int32_t tok, char *buf, size_t cap)
{
    if (!m->tok || tok < 0 || tok >= m->hp.n_vocab)
        return -1;
    int n = tokenizer_token_to_piece(m->tok, tok, buf, cap);
    if (n < 0)
        return -1;
    return (size_t)n > cap ? (int)cap : n;
}

int inferd_llm_token_is_eog(const struct inferd_llm_model *m, int32_t tok)
{
    return m->tok ? tokenizer_is_eog(m->tok, tok) : 0;
}
