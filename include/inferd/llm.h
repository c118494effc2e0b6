/* llm.h — inferd's LLM engine: GGUF llama-family models on CPU, the interface the serving
 * layer (continuous batching) and `inferd generate` call.
 *
 * A model (weights mmapped, tokenizer, metadata) is shared; a context owns a KV cache with
 * room for n_seq sequences of up to n_ctx positions in all. One decode call evaluates a batch
 * of tokens that may belong to different sequences (prompt chunks of some, the next token of
 * others) and leaves logits for the rows that asked for them. Sampling is separate.
 *
 *   struct inferd_llm_model *m;  inferd_llm_load("m.gguf", NULL, &m, &err);
 *   struct inferd_llm_ctx *c;    inferd_llm_ctx_new(m, &(struct inferd_llm_ctx_params){.n_ctx=2048, .n_seq=4}, &c, &err);
 *   int32_t toks[256]; int n = inferd_llm_tokenize(m, "Hello", 5, 1, 0, toks, 256);
 *   struct inferd_llm_batch b = {.n = n, .tokens = toks, .pos = pos, .seq = seq, .want_logits = want};
 *   inferd_llm_decode(c, &b, &err);  const float *logits = inferd_llm_logits(c, n - 1);
 */
#ifndef INFERD_LLM_H
#define INFERD_LLM_H

#include <stddef.h>
#include <stdint.h>

#include "inferd/err.h"

struct tpool;
struct inferd_llm_model;
struct inferd_llm_ctx;
struct inferd_llm_sampler;

struct inferd_llm_load_params {
    int n_threads;              /* for a pool the model creates when pool is NULL; 0 = all CPUs */
    struct tpool *pool;         /* borrowed compute pool, or NULL */
};

/* Facts about a loaded model (borrowed strings live as long as the model). */
struct inferd_llm_info {
    const char *arch;           /* "llama", "qwen2", "phi3", "gemma2" */
    const char *name;           /* general.name or "" */
    int n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, n_ff;
    int32_t bos, eos, eot;      /* -1 when absent */
    int add_bos;                /* tokenize(add_special=1) prepends BOS */
    const char *chat_template;  /* tokenizer.chat_template or NULL */
    const char *file_type;      /* "F32", "F16", "Q8_0", "Q4_K_M"... */
    uint64_t n_params;
    uint64_t file_bytes;
};

int inferd_llm_load(const char *path, const struct inferd_llm_load_params *p,
                    struct inferd_llm_model **out, struct inferd_err *err);
void inferd_llm_free(struct inferd_llm_model *m);
const struct inferd_llm_info *inferd_llm_info(const struct inferd_llm_model *m);

/* Tokenizer (from the GGUF's tokenizer.* metadata). add_special adds BOS (and EOS) as the
 * model's metadata says; parse_special turns special-token text such as "<|im_start|>" into
 * its id. Returns the number of tokens, writing at most cap of them: a return > cap means
 * "call again with a buffer that large". Never negative for valid UTF-8 or not. */
int inferd_llm_tokenize(const struct inferd_llm_model *m, const char *text, size_t len,
                        int add_special, int parse_special, int32_t *out, int cap);
/* Bytes of token tok's text (byte tokens give their byte; SPM's ▁ becomes a space).
 * Writes up to cap bytes (no NUL); returns the number written (a piece longer than cap is
 * cut at cap), or -1 for an invalid id. */
int inferd_llm_token_to_piece(const struct inferd_llm_model *m, int32_t tok, char *buf, size_t cap);
/* Whether tok ends generation (EOS, EOT, or another end-of-generation token). */
int inferd_llm_token_is_eog(const struct inferd_llm_model *m, int32_t tok);

/* The KV cache is paged (16 positions a page): any sequence may grow until the n_ctx
 * positions in all are used up; a decode that does not fit fails with ETOOLARGE and
 * changes nothing. */
enum { INFERD_LLM_KV_F16 = 0, INFERD_LLM_KV_F32 = 1, INFERD_LLM_KV_Q8_0 = 2 };
struct inferd_llm_ctx_params {
    int n_ctx;                  /* KV positions in all, shared by all sequences; 0 = n_ctx_train */
    int n_seq;                  /* max concurrent sequences (ids 0..n_seq-1); 0 = 1 */
    int n_batch;                /* max tokens per decode call; 0 = 512 */
    int kv_f32;                 /* 1 = F32 KV cache; default F16 (= kv_type INFERD_LLM_KV_F32) */
    int kv_type;                /* INFERD_LLM_KV_F16 (0, default), _F32, _Q8_0 (blocks of 32 int8 +
                                   an f16 scale: 34 bytes per 32 values, ~53% of F16; the head
                                   dimension must be a multiple of 32) */
    int embeddings;             /* 1 = keep final hidden states for inferd_llm_embedding */
    int memory_budget_mb;       /* > 0: refuse (ETOOLARGE, with the parts) when weights + KV cache
                                   + scratch would exceed it, before allocating anything */
};

int inferd_llm_ctx_new(struct inferd_llm_model *m, const struct inferd_llm_ctx_params *p,
                       struct inferd_llm_ctx **out, struct inferd_err *err);
void inferd_llm_ctx_free(struct inferd_llm_ctx *c);

/* Memory of a loaded model and (c may be NULL) a context: the mapped weights and how much of
 * them is resident now (mincore; pages shared with other processes mapping the same file
 * count here too), the KV cache and the scratch buffers (both allocated and touched at
 * context creation). */
struct inferd_llm_memory {
    uint64_t weights_bytes, weights_resident, kv_bytes, scratch_bytes;
};
void inferd_llm_memory(const struct inferd_llm_model *m, const struct inferd_llm_ctx *c,
                       struct inferd_llm_memory *out);

/* One decode step: n tokens, each with its position and sequence id; want_logits[i] != 0
 * keeps row i's logits. Positions of a sequence must continue its cache (pos == cached len).
 * Returns 0, ETOOLARGE when the KV cache has no room (message says so), EINVAL on bad ids. */
struct inferd_llm_batch {
    int n;
    const int32_t *tokens;
    const int32_t *pos;
    const int32_t *seq;
    const int8_t *want_logits;  /* NULL = only the last row */
};
int inferd_llm_decode(struct inferd_llm_ctx *c, const struct inferd_llm_batch *b,
                      struct inferd_err *err);
/* Logits (n_vocab floats) of batch row i of the last decode; NULL if not kept. */
const float *inferd_llm_logits(const struct inferd_llm_ctx *c, int i);
/* Final-norm hidden state (n_embd floats) of row i (needs params.embeddings). */
const float *inferd_llm_embedding(const struct inferd_llm_ctx *c, int i);

/* KV cache per sequence: how many positions it holds; drop all of them; drop from pos on;
 * copy the first n positions of src into dst (prompt-prefix reuse). */
int inferd_llm_seq_len(const struct inferd_llm_ctx *c, int seq);
void inferd_llm_seq_clear(struct inferd_llm_ctx *c, int seq);
void inferd_llm_seq_truncate(struct inferd_llm_ctx *c, int seq, int pos);
int inferd_llm_seq_copy(struct inferd_llm_ctx *c, int src, int dst, int n);
/* Moving K/V rows out of and into a sequence (a prefix cache kept outside the context).
 * kv_row_bytes: bytes of K and V of one position over all layers. seq_kv_get copies
 * positions [pos, pos+n) of seq into dst (kv_row_bytes * n bytes, an opaque layout that
 * seq_kv_set of the same context reads back); INFERD_EINVAL when seq does not hold them.
 * seq_kv_set appends n positions to seq, which must hold exactly pos (so positions stay
 * contiguous); INFERD_EINVAL on a bad seq / pos, INFERD_ETOOLARGE when the cache has no
 * free pages for them (seq is unchanged then). */
size_t inferd_llm_kv_row_bytes(const struct inferd_llm_ctx *c);
int inferd_llm_seq_kv_get(const struct inferd_llm_ctx *c, int seq, int pos, int n, void *dst);
int inferd_llm_seq_kv_set(struct inferd_llm_ctx *c, int seq, int pos, int n, const void *src);
/* Free KV positions (whole free pages) and the page size, for schedulers that share the
 * cache between sequences of different lengths. */
int inferd_llm_kv_free(const struct inferd_llm_ctx *c);
int inferd_llm_kv_page(void);
/* KV cache positions in use / in all (for the kv-usage gauge). */
int inferd_llm_kv_used(const struct inferd_llm_ctx *c);
int inferd_llm_kv_size(const struct inferd_llm_ctx *c);

/* Sampling chain: logit bias -> penalties -> top-k -> top-p -> min-p -> temperature ->
 * draw. temperature <= 0 means greedy (argmax after bias and penalties).
 *   logit bias      l[id] += bias (a bias <= -100 bans id; with any bias >= 100 only the
 *                   ids so biased stay candidates: OpenAI's "ban or exclusive selection")
 *   repeat_penalty  llama.cpp's, over the last penalty_last_n tokens (prompt included):
 *                   l > 0 ? l / r : l * r, once per distinct id
 *   frequency_penalty, presence_penalty
 *                   OpenAI's, over all generated tokens: l -= count * f + (count > 0) * p
 *   min_p           drops ids with p < min_p * p(top) */
struct inferd_llm_sampling {
    float temperature;          /* default 0.8 */
    int top_k;                  /* 0 = off; default 40 */
    float top_p;                /* 1 = off; default 0.95 */
    float min_p;                /* 0 = off; default 0.05 */
    float repeat_penalty;       /* 1 = off */
    float frequency_penalty;    /* 0 = off */
    float presence_penalty;     /* 0 = off */
    int penalty_last_n;         /* window of past tokens repeat_penalty looks at; default 64 */
    uint64_t seed;              /* 0xFFFFFFFFFFFFFFFF = random; the draws depend only on it */
};
void inferd_llm_sampling_defaults(struct inferd_llm_sampling *s);
struct inferd_llm_sampler *inferd_llm_sampler_new(const struct inferd_llm_sampling *s, int n_vocab);
void inferd_llm_sampler_free(struct inferd_llm_sampler *s);
/* Records a sampled token in the penalty history (repeat window and the generated counts
 * of the frequency and presence penalties). */
void inferd_llm_sampler_accept(struct inferd_llm_sampler *s, int32_t tok);
/* Records a prompt token: the repeat_penalty window only. */
void inferd_llm_sampler_accept_prompt(struct inferd_llm_sampler *s, int32_t tok);
/* Logit bias: n (id, bias) pairs, copied (a repeated id: the last wins). Replaces any earlier
 * bias. Returns 0, INFERD_EINVAL (an id outside the vocabulary, a bias that is not finite)
 * or INFERD_ENOMEM; on error the sampler keeps its earlier bias. */
struct inferd_llm_logit_bias {
    int32_t id;
    float bias;
};
int inferd_llm_sampler_set_bias(struct inferd_llm_sampler *s, const struct inferd_llm_logit_bias *b, int n);
/* The distribution the next inferd_llm_sample draws from, after every transform of the
 * chain and temperature: OUT probs[n_vocab] (0 for dropped ids; greedy: 1 on the argmax).
 * Draws nothing. For tests and tools. */
void inferd_llm_sampler_probs(struct inferd_llm_sampler *s, const float *logits, float *probs);
/* Picks the next token from logits (not modified). OUT (optional): *logprob of the pick
 * under the unmodified softmax. */
int32_t inferd_llm_sample(struct inferd_llm_sampler *s, const float *logits, float *logprob);
/* Top-n (id, logprob) pairs of the unmodified softmax, descending; returns the count. */
int inferd_llm_top_logprobs(const float *logits, int n_vocab, int n, int32_t *ids, float *logprobs);

/* Generation: the whole loop `inferd generate` runs, in one call. The prompt is decoded in
 * chunks of n_batch tokens (continuing what sequence seq's cache holds), then tokens are
 * sampled one by one until max_tokens, an end-of-generation token, a stop string, the
 * callback's say-so, or a full KV cache. Stop strings never reach the output; text that
 * could still begin one, or ends in half a UTF-8 character, is held back until it is known
 * (the stop-string engine of the server too).
 *
 *   struct inferd_llm_gen_result r;
 *   if (inferd_llm_generate(c, toks, n, &(struct inferd_llm_gen_params){.max_tokens = 128,
 *           .sampling = &sp, .on_piece = print_piece}, &r, &err) == 0)
 *       printf("%d tokens, finish_reason %s\n", r.n_gen, r.finish_reason);
 *   inferd_llm_gen_result_free(&r);
 */
#define INFERD_LLM_GEN_STOP_MAX 16    /* stop strings per call */
#define INFERD_LLM_GEN_STOP_LEN 256   /* bytes per stop string */

enum inferd_llm_finish {
    INFERD_LLM_FINISH_LENGTH = 0,    /* max_tokens generated: finish_reason "length" */
    INFERD_LLM_FINISH_EOG,           /* an end-of-generation token: "stop" */
    INFERD_LLM_FINISH_STOP_STRING,   /* a stop string appeared: "stop" */
    INFERD_LLM_FINISH_CALLBACK,      /* on_piece returned nonzero: "stop" */
    INFERD_LLM_FINISH_CONTEXT,       /* the KV cache had no room for the next token: "length" */
};

/* Called with each run of text that is safe to show (never empty), in order; the runs
 * concatenated are the result's text. Return 0 to go on, nonzero to stop generation (text
 * still held back at that point is dropped). */
typedef int (*inferd_llm_piece_fn)(const char *text, size_t len, void *arg);

struct inferd_llm_gen_params {
    int max_tokens;             /* tokens to sample at most (an EOG token counts); 0 = none,
                                   only the prompt is decoded; < 0 = until EOG or a full cache */
    int n_batch;                /* prompt tokens per decode call; 0 = the context's n_batch
                                   (more than the context's is INFERD_EINVAL) */
    int seq;                    /* sequence of the context to use; default 0 */
    const struct inferd_llm_sampling *sampling;  /* borrowed; NULL = inferd_llm_sampling_defaults */
    const char *const *stop;    /* borrowed: n_stop strings (empty ones ignored) */
    int n_stop;
    int ignore_eos;             /* 1: EOG tokens do not end generation; their piece is output */
    inferd_llm_piece_fn on_piece;  /* optional streaming callback */
    void *arg;                  /* passed to on_piece */
    const char *grammar;        /* borrowed GBNF rules (start rule "root"), or NULL: every
                                   token must continue a match, and generation ends when the
                                   match is complete (constrained decoding) */
};

struct inferd_llm_gen_result {
    char *text;                 /* OUT, owned: all text shown, NUL-terminated; free with
                                   inferd_llm_gen_result_free */
    size_t len;                 /* bytes of text */
    int n_prompt;               /* prompt tokens decoded */
    int n_gen;                  /* tokens sampled (the EOG token, when one ended it, included) */
    enum inferd_llm_finish finish;
    const char *finish_reason;  /* "stop" or "length" (static) */
    double prompt_ms;           /* decoding the prompt */
    double gen_ms;              /* sampling and decoding the generated tokens */
};

/* Generates from prompt[0..n_prompt) (borrowed) on sequence p->seq of c. The sequence's
 * cache keeps prompt and generated tokens afterwards (inferd_llm_seq_clear to reuse it).
 * Returns 0 with *out filled, or a negative INFERD_E* with err set and *out zeroed (nothing
 * to free): EINVAL (bad parameters, no tokens, bad token ids, a bad grammar or one no token
 * can continue), ETOOLARGE (too many stop
 * strings or one too long; the prompt does not fit the KV cache), ENOMEM, or a decode error.
 * on_piece may have run before a later failure. */
int inferd_llm_generate(struct inferd_llm_ctx *c, const int32_t *prompt, int n_prompt,
                        const struct inferd_llm_gen_params *p, struct inferd_llm_gen_result *out,
                        struct inferd_err *err);
/* Frees r->text and zeroes *r; r == NULL is a no-op. */
void inferd_llm_gen_result_free(struct inferd_llm_gen_result *r);

/* Perplexity of text, computed as llama.cpp's llama-perplexity does so the numbers compare:
 * the text is tokenized with BOS, cut into chunks of n_ctx tokens (the first token of each
 * replaced by BOS when the model adds one), and each chunk is decoded alone; the second half
 * of every chunk is scored (position i predicts token i+1), PPL = exp(mean NLL), err its
 * standard error. The text must give at least 2 * n_ctx tokens.
 *
 *   struct inferd_llm_ppl r;
 *   if (inferd_llm_perplexity(m, text, len, &(struct inferd_llm_ppl_params){.n_ctx = 512}, &r, &err) == 0)
 *       printf("PPL = %.4f +/- %.4f\n", r.ppl, r.ppl_err);
 */
struct inferd_llm_ppl_params {
    int n_ctx;                  /* tokens per chunk; 0 = min(512, the model's context) */
    int max_chunks;             /* 0 = every whole chunk of the text */
    void (*progress)(void *arg, int64_t chunks_done, int64_t chunks); /* may be NULL */
    void *arg;
};
struct inferd_llm_ppl {
    double ppl, ppl_err;        /* exp(mean NLL) and its standard error */
    double nll;                 /* mean negative log-likelihood (nats per token) */
    int64_t n_scored;           /* tokens scored */
    int n_chunks, n_ctx, n_tokens;  /* chunks evaluated, their size, tokens in the text */
};
/* Returns 0 with *out filled, or EINVAL (text too short: the message says how many tokens
 * it needs and has; n_ctx out of range), ENOMEM, or a decode error. */
int inferd_llm_perplexity(struct inferd_llm_model *m, const char *text, size_t len,
                          const struct inferd_llm_ppl_params *p, struct inferd_llm_ppl *out,
                          struct inferd_err *err);
#define INFERD_LLM_PPL_TEXT_MAX (256u << 20) /* bytes of text inferd_llm_perplexity_file reads */
/* The same for the model file model_path (loaded on n_threads, 0 = all CPUs) and the text
 * file text_path (at most INFERD_LLM_PPL_TEXT_MAX bytes). Errors name the file. */
int inferd_llm_perplexity_file(const char *model_path, const char *text_path, int n_threads,
                               const struct inferd_llm_ppl_params *p, struct inferd_llm_ppl *out,
                               struct inferd_err *err);

#endif
