/* chat_template.h — chat templates without a Jinja engine: recognise a model's
 * tokenizer.chat_template by substrings, then render a conversation in C.
 *
 * A GGUF carries its chat format as Jinja text. inferd does not run Jinja; like llama.cpp's
 * llm_chat_detect_template it recognises the common families by marker substrings
 * (ChatML, Llama 2, Llama 3, Mistral v1/v3/v3-tekken/v7, Phi-3, Gemma, Zephyr, DeepSeek,
 * DeepSeek 3/R1, Command-R) and renders each in plain C. An unknown template falls back to
 * ChatML (the caller logs a warning); a config may name the family instead ("llama3").
 * The rendered text never starts with the BOS token: the tokenizer adds it
 * (add_special=1). Special tokens inside (e.g. "<|im_start|>") are meant to be tokenized
 * with parse_special=1.
 *
 *   struct chat_tmpl t;
 *   if (chat_tmpl_detect(info->chat_template, &t) < 0) log_event(LOG_WARN, "unknown...", NULL);
 *   struct chat_msg msgs[] = {{"system", "Be brief."}, {"user", "Hi"}};
 *   char *prompt; chat_tmpl_render(&t, msgs, 2, 1, 1 << 20, &prompt, &err);
 *   ... free(prompt);
 */
#ifndef INFERD_CHAT_TEMPLATE_H
#define INFERD_CHAT_TEMPLATE_H

#include <stddef.h>

#include "inferd/err.h"

enum chat_tmpl_family {
    CHAT_TMPL_CHATML = 0,
    CHAT_TMPL_LLAMA2,
    CHAT_TMPL_LLAMA3,
    CHAT_TMPL_MISTRAL_V1,
    CHAT_TMPL_MISTRAL_V3,
    CHAT_TMPL_MISTRAL_V3_TEKKEN,
    CHAT_TMPL_MISTRAL_V7,
    CHAT_TMPL_PHI3,
    CHAT_TMPL_GEMMA,
    CHAT_TMPL_ZEPHYR,
    CHAT_TMPL_DEEPSEEK,
    CHAT_TMPL_DEEPSEEK3,
    CHAT_TMPL_COMMAND_R,
    CHAT_TMPL_COUNT
};

/* Variant flags found in the template text. */
enum {
    CHAT_TMPL_F_DATE_HEADER = 1 << 0, /* llama 3.1+: "Cutting Knowledge Date" system block */
    CHAT_TMPL_F_THINK = 1 << 1,       /* deepseek R1: generation prompt opens "<think>\n" */
    CHAT_TMPL_F_ENDOFTEXT = 1 << 2,   /* zephyr: turns end with <|endoftext|> instead of </s> */
    CHAT_TMPL_F_QWEN_SYSTEM = 1 << 3, /* chatml (Qwen 2.5): default system turn when none given */
    CHAT_TMPL_F_IPYTHON = 1 << 4,     /* llama 3.1+ with tools: "Environment: ipython" (set by the caller) */
    CHAT_TMPL_F_TOOLS = 1 << 5,       /* mistral: the template has [AVAILABLE_TOOLS] (tool calling) */
};

struct chat_tmpl {
    enum chat_tmpl_family family;
    unsigned flags; /* CHAT_TMPL_F_* */
};

/* One message; both strings borrowed. role is "system", "user", "assistant" (others are
 * rendered like user turns where the family has no role of that name). Mistral families
 * also take CHAT_ROLE_RAW: content written as is, outside any turn (tool calling's
 * [AVAILABLE_TOOLS], [TOOL_CALLS] and [TOOL_RESULTS] text, made by the server, never a
 * request's role). */
#define CHAT_ROLE_RAW "raw"
struct chat_msg {
    const char *role;
    const char *content;
};

/* Recognises text (may be NULL). OUT: *out, ChatML when not recognised.
 * Returns 0, or INFERD_ENOTFOUND when text is NULL/empty/unrecognised (out = ChatML). */
int chat_tmpl_detect(const char *text, struct chat_tmpl *out);
/* A family by name: "chatml", "llama2", "llama3", "llama3.1", "mistral-v1", "mistral-v3",
 * "mistral-v3-tekken", "mistral-v7", "phi3", "gemma", "zephyr", "deepseek", "deepseek3",
 * "deepseek-r1", "command-r" (also "qwen" = chatml, "mistral" = mistral-v7).
 * Returns 0 or INFERD_ENOTFOUND. */
int chat_tmpl_from_name(const char *name, struct chat_tmpl *out);
/* Stable name of a family ("chatml"...). */
const char *chat_tmpl_name(enum chat_tmpl_family f);

/* Renders msgs[0..n) and, when add_generation_prompt, the opening of the assistant turn.
 * OUT: *out, a NUL-terminated malloc'd string the caller frees. Returns 0, INFERD_EINVAL
 * (NULL role/content, naming messages[i]), INFERD_ETOOLARGE (longer than cap bytes) or
 * INFERD_ENOMEM. */
int chat_tmpl_render(const struct chat_tmpl *t, const struct chat_msg *msgs, int n,
                     int add_generation_prompt, size_t cap, char **out, struct inferd_err *err);

#endif
