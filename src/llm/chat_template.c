/* chat_template.c — chat template detection by substrings and per-family rendering in C. */
#include "llm/chat_template.h"

#include "base/buf.h"

#include <stdlib.h>
#include <string.h>

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* Appends s with leading and trailing whitespace removed (Jinja's trim / Python strip). */
static void put_trimmed(struct buf *b, const char *s)
{
    size_t n = strlen(s);
    while (n && is_ws(*s)) {
        s++;
        n--;
    }
    while (n && is_ws(s[n - 1]))
        n--;
    buf_put(b, s, n);
}

#define QWEN_DEFAULT_SYSTEM "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

static int has(const char *t, const char *needle) { return strstr(t, needle) != NULL; }

int chat_tmpl_detect(const char *t, struct chat_tmpl *out)
{
    out->family = CHAT_TMPL_CHATML;
    out->flags = 0;
    if (!t || !*t)
        return INFERD_ENOTFOUND;
    if (has(t, "<|im_start|>")) {
        out->family = CHAT_TMPL_CHATML;
        if (has(t, QWEN_DEFAULT_SYSTEM))
            out->flags |= CHAT_TMPL_F_QWEN_SYSTEM;
    } else if (strncmp(t, "mistral", 7) == 0 || has(t, "[INST]")) {
        if (has(t, "[SYSTEM_PROMPT]")) {
            out->family = CHAT_TMPL_MISTRAL_V7;
        } else if (has(t, "' [INST] ' + system_message") || has(t, "[AVAILABLE_TOOLS]")) {
            if (has(t, "[AVAILABLE_TOOLS]"))
                out->flags |= CHAT_TMPL_F_TOOLS;
            if (has(t, " [INST]"))
                out->family = CHAT_TMPL_MISTRAL_V1;
            else if (has(t, "\"[INST]\""))
                out->family = CHAT_TMPL_MISTRAL_V3_TEKKEN;
            else
                out->family = CHAT_TMPL_MISTRAL_V3;
        } else {
            out->family = CHAT_TMPL_LLAMA2;
        }
    } else if (has(t, "<|assistant|>") && has(t, "<|end|>")) {
        out->family = CHAT_TMPL_PHI3;
    } else if (has(t, "<|user|>") && (has(t, "<|endoftext|>") || has(t, "eos_token"))) {
        out->family = CHAT_TMPL_ZEPHYR;
        if (has(t, "<|endoftext|>"))
            out->flags |= CHAT_TMPL_F_ENDOFTEXT;
    } else if (has(t, "<start_of_turn>")) {
        out->family = CHAT_TMPL_GEMMA;
    } else if (has(t, "### Instruction:") && has(t, "<|EOT|>")) {
        out->family = CHAT_TMPL_DEEPSEEK;
    } else if (has(t, "<|START_OF_TURN_TOKEN|>") && has(t, "<|USER_TOKEN|>")) {
        out->family = CHAT_TMPL_COMMAND_R;
    } else if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>")) {
        out->family = CHAT_TMPL_LLAMA3;
        if (has(t, "Cutting Knowledge Date"))
            out->flags |= CHAT_TMPL_F_DATE_HEADER;
    } else if (has(t, "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>") && has(t, "<\xef\xbd\x9c" "User\xef\xbd\x9c>")) {
        out->family = CHAT_TMPL_DEEPSEEK3;
        if (has(t, "<think>"))
            out->flags |= CHAT_TMPL_F_THINK;
    } else {
        return INFERD_ENOTFOUND;
    }
    return 0;
}

static const char *const family_names[CHAT_TMPL_COUNT] = {
    [CHAT_TMPL_CHATML] = "chatml",
    [CHAT_TMPL_LLAMA2] = "llama2",
    [CHAT_TMPL_LLAMA3] = "llama3",
    [CHAT_TMPL_MISTRAL_V1] = "mistral-v1",
    [CHAT_TMPL_MISTRAL_V3] = "mistral-v3",
    [CHAT_TMPL_MISTRAL_V3_TEKKEN] = "mistral-v3-tekken",
    [CHAT_TMPL_MISTRAL_V7] = "mistral-v7",
    [CHAT_TMPL_PHI3] = "phi3",
    [CHAT_TMPL_GEMMA] = "gemma",
    [CHAT_TMPL_ZEPHYR] = "zephyr",
    [CHAT_TMPL_DEEPSEEK] = "deepseek",
    [CHAT_TMPL_DEEPSEEK3] = "deepseek3",
    [CHAT_TMPL_COMMAND_R] = "command-r",
};

const char *chat_tmpl_name(enum chat_tmpl_family f)
{
    if ((int)f < 0 || f >= CHAT_TMPL_COUNT)
        return "unknown";
    return family_names[f];
}

int chat_tmpl_from_name(const char *name, struct chat_tmpl *out)
{
    out->family = CHAT_TMPL_CHATML;
    out->flags = 0;
    if (!name)
        return INFERD_ENOTFOUND;
    for (int f = 0; f < CHAT_TMPL_COUNT; f++) {
        if (strcmp(name, family_names[f]) == 0) {
            out->family = (enum chat_tmpl_family)f;
            return 0;
        }
    }
    static const struct {
        const char *name;
        enum chat_tmpl_family f;
        unsigned flags;
    } aliases[] = {
        {"qwen", CHAT_TMPL_CHATML, 0},
        {"llama3.1", CHAT_TMPL_LLAMA3, CHAT_TMPL_F_DATE_HEADER},
        {"mistral", CHAT_TMPL_MISTRAL_V7, 0},
        {"phi-3", CHAT_TMPL_PHI3, 0},
        {"deepseek-r1", CHAT_TMPL_DEEPSEEK3, CHAT_TMPL_F_THINK},
        {"zephyr-endoftext", CHAT_TMPL_ZEPHYR, CHAT_TMPL_F_ENDOFTEXT},
    };
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        if (strcmp(name, aliases[i].name) == 0) {
            out->family = aliases[i].f;
            out->flags = aliases[i].flags;
            return 0;
        }
    }
    return INFERD_ENOTFOUND;
}

static int is_role(const struct chat_msg *m, const char *r) { return strcmp(m->role, r) == 0; }

/* Mistral v1/v3/v3-tekken, as llama.cpp renders them (system text opens the next turn). */
static void render_mistral(struct buf *b, enum chat_tmpl_family f, const struct chat_msg *m, int n)
{
    const char *lead = f == CHAT_TMPL_MISTRAL_V1 ? " " : "";
    const char *trail = f == CHAT_TMPL_MISTRAL_V3_TEKKEN ? "" : " ";
    int inside = 0;
    for (int i = 0; i < n; i++) {
        if (is_role(&m[i], CHAT_ROLE_RAW)) {
            buf_puts(b, m[i].content);
            inside = 0;
            continue;
        }
        if (!inside && !is_role(&m[i], "assistant")) { /* an answer after raw text opens no turn */
            buf_puts(b, lead);
            buf_puts(b, "[INST]");
            buf_puts(b, trail);
            inside = 1;
        }
        if (is_role(&m[i], "system")) {
            buf_puts(b, m[i].content);
            buf_puts(b, "\n\n");
        } else if (is_role(&m[i], "assistant")) {
            buf_puts(b, trail);
            if (f == CHAT_TMPL_MISTRAL_V3)
                put_trimmed(b, m[i].content);
            else
                buf_puts(b, m[i].content);
            buf_puts(b, "</s>");
            inside = 0;
        } else {
            buf_puts(b, m[i].content);
            buf_puts(b, lead);
            buf_puts(b, "[/INST]");
        }
    }
}

/* Llama 2 chat as Meta's template writes it: system folded into the first user turn
 * inside <<SYS>>; every user turn after the first is preceded by BOS text "<s>". */
static void render_llama2(struct buf *b, const struct chat_msg *m, int n)
{
    const char *sys = NULL;
    int first = 1;
    for (int i = 0; i < n; i++) {
        if (is_role(&m[i], "system")) {
            sys = m[i].content;
            continue;
        }
        if (is_role(&m[i], "assistant")) {
            buf_puts(b, " ");
            put_trimmed(b, m[i].content);
            buf_puts(b, " </s>");
            first = 0;
            continue;
        }
        if (!first)
            buf_puts(b, "<s>");
        buf_puts(b, "[INST] ");
        if (sys) {
            /* strip() applies to the whole "<<SYS>>..." + content string */
            buf_puts(b, "<<SYS>>\n");
            buf_puts(b, sys);
            buf_puts(b, "\n<</SYS>>\n\n");
            const char *c = m[i].content;
            size_t len = strlen(c);
            while (len && is_ws(c[len - 1]))
                len--;
            buf_put(b, c, len);
            sys = NULL;
        } else {
            put_trimmed(b, m[i].content);
        }
        buf_puts(b, " [/INST]");
        first = 0;
    }
}

static void render_llama3(struct buf *b, unsigned flags, const struct chat_msg *m, int n, int add_gen)
{
    int i = 0;
    if (flags & CHAT_TMPL_F_DATE_HEADER) {
        /* Llama 3.1+: the system block is always there, with the template's default date. */
        buf_puts(b, "<|start_header_id|>system<|end_header_id|>\n\n");
        if (flags & CHAT_TMPL_F_IPYTHON)
            buf_puts(b, "Environment: ipython\n");
        buf_puts(b, "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n");
        if (n > 0 && is_role(&m[0], "system")) {
            put_trimmed(b, m[0].content);
            i = 1;
        }
        buf_puts(b, "<|eot_id|>");
    }
    for (; i < n; i++) {
        buf_puts(b, "<|start_header_id|>");
        buf_puts(b, m[i].role);
        buf_puts(b, "<|end_header_id|>\n\n");
        put_trimmed(b, m[i].content);
        buf_puts(b, "<|eot_id|>");
    }
    if (add_gen)
        buf_puts(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

/* Gemma has no system role: its text opens the first user turn (as llama.cpp does). */
static void render_gemma(struct buf *b, const struct chat_msg *m, int n, int add_gen)
{
    const char *sys = NULL;
    for (int i = 0; i < n; i++) {
        if (is_role(&m[i], "system")) {
            sys = m[i].content;
            continue;
        }
        int asst = is_role(&m[i], "assistant");
        buf_puts(b, "<start_of_turn>");
        buf_puts(b, asst ? "model" : m[i].role);
        buf_puts(b, "\n");
        if (sys && !asst) {
            put_trimmed(b, sys);
            buf_puts(b, "\n\n");
            sys = NULL;
        }
        put_trimmed(b, m[i].content);
        buf_puts(b, "<end_of_turn>\n");
    }
    if (add_gen)
        buf_puts(b, "<start_of_turn>model\n");
}

static void render_deepseek3(struct buf *b, unsigned flags, const struct chat_msg *m, int n, int add_gen)
{
    /* The template prints the (last) system prompt first, then the turns. */
    const char *sys = NULL;
    for (int i = 0; i < n; i++)
        if (is_role(&m[i], "system"))
            sys = m[i].content;
    if (sys)
        buf_puts(b, sys);
    for (int i = 0; i < n; i++) {
        if (is_role(&m[i], "user")) {
            buf_puts(b, "<\xef\xbd\x9cUser\xef\xbd\x9c>");
            buf_puts(b, m[i].content);
        } else if (is_role(&m[i], "assistant")) {
            const char *c = m[i].content, *think;
            while ((think = strstr(c, "</think>")) != NULL)
                c = think + 8;
            buf_puts(b, "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>");
            buf_puts(b, c);
            buf_puts(b, "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>");
        }
    }
    if (add_gen) {
        buf_puts(b, "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>");
        if (flags & CHAT_TMPL_F_THINK)
            buf_puts(b, "<think>\n");
    }
}

static void render_simple(struct buf *b, const struct chat_tmpl *t, const struct chat_msg *m, int n, int add_gen)
{
    if (t->family == CHAT_TMPL_CHATML && (t->flags & CHAT_TMPL_F_QWEN_SYSTEM) &&
        (n == 0 || !is_role(&m[0], "system")))
        buf_puts(b, "<|im_start|>system\n" QWEN_DEFAULT_SYSTEM "<|im_end|>\n");
    for (int i = 0; i < n; i++) {
        const char *r = m[i].role, *c = m[i].content;
        switch (t->family) {
        case CHAT_TMPL_PHI3:
            if (is_role(&m[i], "system") && !*c)
                break;
            buf_puts(b, "<|");
            buf_puts(b, r);
            buf_puts(b, "|>\n");
            buf_puts(b, c);
            buf_puts(b, "<|end|>\n");
            break;
        case CHAT_TMPL_ZEPHYR:
            buf_puts(b, "<|");
            buf_puts(b, r);
            buf_puts(b, "|>\n");
            buf_puts(b, c);
            buf_puts(b, (t->flags & CHAT_TMPL_F_ENDOFTEXT) ? "<|endoftext|>\n" : "</s>\n");
            break;
        case CHAT_TMPL_DEEPSEEK:
            if (is_role(&m[i], "system")) {
                buf_puts(b, c);
            } else if (is_role(&m[i], "assistant")) {
                buf_puts(b, "### Response:\n");
                buf_puts(b, c);
                buf_puts(b, "\n<|EOT|>\n");
            } else {
                buf_puts(b, "### Instruction:\n");
                buf_puts(b, c);
                buf_puts(b, "\n");
            }
            break;
        case CHAT_TMPL_COMMAND_R:
            buf_puts(b, "<|START_OF_TURN_TOKEN|>");
            buf_puts(b, is_role(&m[i], "system") ? "<|SYSTEM_TOKEN|>"
                    : is_role(&m[i], "assistant") ? "<|CHATBOT_TOKEN|>" : "<|USER_TOKEN|>");
            put_trimmed(b, c);
            buf_puts(b, "<|END_OF_TURN_TOKEN|>");
            break;
        case CHAT_TMPL_MISTRAL_V7:
            if (is_role(&m[i], "system")) {
                buf_puts(b, "[SYSTEM_PROMPT] ");
                buf_puts(b, c);
                buf_puts(b, "[/SYSTEM_PROMPT]");
            } else if (is_role(&m[i], "assistant")) {
                buf_puts(b, " ");
                buf_puts(b, c);
                buf_puts(b, "</s>");
            } else {
                buf_puts(b, "[INST] ");
                buf_puts(b, c);
                buf_puts(b, "[/INST]");
            }
            break;
        default: /* ChatML */
            buf_puts(b, "<|im_start|>");
            buf_puts(b, r);
            buf_puts(b, "\n");
            buf_puts(b, c);
            buf_puts(b, "<|im_end|>\n");
            break;
        }
    }
    if (!add_gen)
        return;
    switch (t->family) {
    case CHAT_TMPL_PHI3:
    case CHAT_TMPL_ZEPHYR:
        buf_puts(b, "<|assistant|>\n");
        break;
    case CHAT_TMPL_DEEPSEEK:
        buf_puts(b, "### Response:\n");
        break;
    case CHAT_TMPL_COMMAND_R:
        buf_puts(b, "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>");
        break;
    case CHAT_TMPL_MISTRAL_V7:
        break;
    default:
        buf_puts(b, "<|im_start|>assistant\n");
        break;
    }
}

int chat_tmpl_render(const struct chat_tmpl *t, const struct chat_msg *msgs, int n,
                     int add_generation_prompt, size_t cap, char **out, struct inferd_err *err)
{
    struct buf b;
    *out = NULL;
    if (n < 0)
        return inferd_err_set(err, INFERD_EINVAL, "messages: negative count");
    for (int i = 0; i < n; i++) {
        if (!msgs[i].role || !msgs[i].content)
            return inferd_err_set(err, INFERD_EINVAL, "messages[%d]: role and content are required", i);
    }
    buf_init(&b, cap ? cap - 1 : 0); /* cap counts the NUL */
    switch (t->family) {
    case CHAT_TMPL_LLAMA2:
        render_llama2(&b, msgs, n);
        break;
    case CHAT_TMPL_LLAMA3:
        render_llama3(&b, t->flags, msgs, n, add_generation_prompt);
        break;
    case CHAT_TMPL_MISTRAL_V1:
    case CHAT_TMPL_MISTRAL_V3:
    case CHAT_TMPL_MISTRAL_V3_TEKKEN:
        render_mistral(&b, t->family, msgs, n);
        break;
    case CHAT_TMPL_GEMMA:
        render_gemma(&b, msgs, n, add_generation_prompt);
        break;
    case CHAT_TMPL_DEEPSEEK3:
        render_deepseek3(&b, t->flags, msgs, n, add_generation_prompt);
        break;
    default:
        render_simple(&b, t, msgs, n, add_generation_prompt);
        break;
    }
    int rc = buf_rc(&b);
    char *text = buf_take(&b, NULL); /* NULL when b failed */
    if (rc == INFERD_ETOOLARGE)
        return inferd_err_set(err, rc, "messages: rendered prompt exceeds the %zu-byte cap", cap);
    if (!text)
        return inferd_err_set(err, INFERD_ENOMEM, "messages: out of memory rendering the chat template");
    *out = text;
    return 0;
}
