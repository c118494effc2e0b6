/* test_chat_template.c — chat template detection (the shared Jinja files and hand-written
 * snippets) and the exact rendering of each family, expected strings written from the Jinja. */
#include "check.h"
#include "llm/chat_template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 17];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

/* A: user, assistant, user + generation prompt.  B: system, user + generation prompt. */
static const struct chat_msg conv_a[] = {{"user", "Hi"}, {"assistant", "Hello!"}, {"user", "How are you?"}};
static const struct chat_msg conv_b[] = {{"system", "Be brief."}, {"user", "Hi"}};

static void check_render(const struct chat_tmpl *t, const struct chat_msg *m, int n, const char *want, int line)
{
    char *got = NULL;
    struct inferd_err err = {0};
    int rc = chat_tmpl_render(t, m, n, 1, 1 << 16, &got, &err);
    CHECK(rc == 0);
    if (rc == 0 && strcmp(got, want) != 0) {
        fprintf(stderr, "line %d (%s): got\n[%s]\nwant\n[%s]\n", line, chat_tmpl_name(t->family), got, want);
        check_fail(__FILE__, line, "rendering differs");
    }
    free(got);
}

struct file_case {
    const char *file;
    enum chat_tmpl_family family;
    const char *want_a, *want_b; /* NULL: detection only */
};

#define L3_SYS "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
#define L3_A L3_SYS "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>" \
    "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>" \
    "<|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
#define L3_B L3_SYS "Be brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>" \
    "<|start_header_id|>assistant<|end_header_id|>\n\n"
#define DS_U "<\xef\xbd\x9cUser\xef\xbd\x9c>"
#define DS_A "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>"
#define DS_E "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"

static const struct file_case files[] = {
    {"Qwen-Qwen2.5-7B-Instruct.jinja", CHAT_TMPL_CHATML,
     "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
     "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
     "<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\n",
     "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"},
    {"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", CHAT_TMPL_CHATML, NULL, NULL},
    {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", CHAT_TMPL_CHATML, NULL, NULL},
    {"meta-llama-Llama-3.1-8B-Instruct.jinja", CHAT_TMPL_LLAMA3, L3_A, L3_B},
    {"meta-llama-Llama-3.2-3B-Instruct.jinja", CHAT_TMPL_LLAMA3, L3_A, L3_B},
    {"meta-llama-Llama-3.3-70B-Instruct.jinja", CHAT_TMPL_LLAMA3, L3_A, L3_B},
    {"fireworks-ai-llama-3-firefunction-v2.jinja", CHAT_TMPL_LLAMA3, NULL, NULL},
    {"meetkai-functionary-medium-v3.1.jinja", CHAT_TMPL_LLAMA3, NULL, NULL},
    {"meetkai-functionary-medium-v3.2.jinja", CHAT_TMPL_LLAMA3, NULL, NULL},
    {"microsoft-Phi-3.5-mini-instruct.jinja", CHAT_TMPL_PHI3,
     "<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n<|user|>\nHow are you?<|end|>\n<|assistant|>\n",
     "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n"},
    {"google-gemma-2-2b-it.jinja", CHAT_TMPL_GEMMA,
     "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
     "<start_of_turn>user\nHow are you?<end_of_turn>\n<start_of_turn>model\n",
     /* the Jinja refuses a system turn; like llama.cpp it opens the first user turn */
     "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n"},
    {"mistralai-Mistral-Nemo-Instruct-2407.jinja", CHAT_TMPL_MISTRAL_V3_TEKKEN,
     "[INST]Hi[/INST]Hello!</s>[INST]How are you?[/INST]", "[INST]Be brief.\n\nHi[/INST]"},
    {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", CHAT_TMPL_DEEPSEEK3,
     DS_U "Hi" DS_A "Hello!" DS_E DS_U "How are you?" DS_A "<think>\n", "Be brief." DS_U "Hi" DS_A "<think>\n"},
    {"deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja", CHAT_TMPL_DEEPSEEK3,
     DS_U "Hi" DS_A "Hello!" DS_E DS_U "How are you?" DS_A "<think>\n", "Be brief." DS_U "Hi" DS_A "<think>\n"},
    {"llama-cpp-deepseek-r1.jinja", CHAT_TMPL_DEEPSEEK3, NULL, NULL},
    {"CohereForAI-c4ai-command-r-plus-tool_use.jinja", CHAT_TMPL_COMMAND_R, NULL, NULL},
    {"CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja", CHAT_TMPL_COMMAND_R, NULL, NULL},
};

/* Families with no file in testdata: short templates in their published shape. */
struct text_case {
    const char *text;
    enum chat_tmpl_family family;
    const char *want_a, *want_b;
};

static const struct text_case texts[] = {
    {"{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
     "messages[0]['content'] %}{% endif %}{% for message in loop_messages %}{% if loop.index0 == 0 and "
     "system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + "
     "message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == "
     "'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' "
     "%}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
     CHAT_TMPL_LLAMA2, "[INST] Hi [/INST] Hello! </s><s>[INST] How are you? [/INST]",
     "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]"},
    {"{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + message['content'] + "
     "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + message['content'] + eos_token }}\n"
     "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n"
     "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}",
     CHAT_TMPL_ZEPHYR, "<|user|>\nHi</s>\n<|assistant|>\nHello!</s>\n<|user|>\nHow are you?</s>\n<|assistant|>\n",
     "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\n"},
    {"{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}{{ '[SYSTEM_PROMPT] ' + "
     "message['content'] + '[/SYSTEM_PROMPT]' }}{% elif message['role'] == 'user' %}{{ '[INST] ' + "
     "message['content'] + '[/INST]' }}{% else %}{{ ' ' + message['content'] + eos_token }}{% endif %}{% endfor %}",
     CHAT_TMPL_MISTRAL_V7, "[INST] Hi[/INST] Hello!</s>[INST] How are you?[/INST]",
     "[SYSTEM_PROMPT] Be brief.[/SYSTEM_PROMPT][INST] Hi[/INST]"},
    {"{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}{%- endif %}"
     "{{- bos_token }}{%- for message in loop_messages %}{%- if message['role'] == 'user' %}{%- if loop.first "
     "and system_message is defined %}{{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' "
     "}}{%- else %}{{- ' [INST] ' + message['content'] + ' [/INST]' }}{%- endif %}{%- elif message['role'] == "
     "'assistant' %}{{- ' ' + message['content'] + eos_token}}{%- endif %}{%- endfor %}",
     CHAT_TMPL_MISTRAL_V1, " [INST] Hi [/INST] Hello!</s> [INST] How are you? [/INST]",
     " [INST] Be brief.\n\nHi [/INST]"},
    {"{% for message in messages %}{% if message['role'] == 'user' %}{{'### Instruction:\\n' + "
     "message['content'] + '\\n'}}{% else %}{{'### Response:\\n' + message['content'] + '\\n<|EOT|>\\n'}}"
     "{% endif %}{% endfor %}",
     CHAT_TMPL_DEEPSEEK, "### Instruction:\nHi\n### Response:\nHello!\n<|EOT|>\n### Instruction:\nHow are you?\n### Response:\n",
     "Be brief.### Instruction:\nHi\n### Response:\n"},
};

int main(void)
{
    const char *dir = check_shared_path("llm/templates");
    char path[4096];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i].file);
        const char *text = read_file(path);
        CHECK(text != NULL);
        if (!text)
            continue;
        struct chat_tmpl t;
        int rc = chat_tmpl_detect(text, &t);
        CHECK(rc == 0);
        if (t.family != files[i].family) {
            fprintf(stderr, "%s: detected %s, want %s\n", files[i].file, chat_tmpl_name(t.family),
                    chat_tmpl_name(files[i].family));
            check_fail(__FILE__, __LINE__, "family");
        }
        if (t.family == CHAT_TMPL_MISTRAL_V3_TEKKEN) /* Nemo's template has tool calling */
            CHECK(t.flags & CHAT_TMPL_F_TOOLS);
        if (files[i].want_a)
            check_render(&t, conv_a, 3, files[i].want_a, __LINE__);
        if (files[i].want_b)
            check_render(&t, conv_b, 2, files[i].want_b, __LINE__);
    }
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        struct chat_tmpl t;
        CHECK(chat_tmpl_detect(texts[i].text, &t) == 0);
        if (t.family != texts[i].family) {
            fprintf(stderr, "text %zu: detected %s, want %s\n", i, chat_tmpl_name(t.family),
                    chat_tmpl_name(texts[i].family));
            check_fail(__FILE__, __LINE__, "family");
        }
        check_render(&t, conv_a, 3, texts[i].want_a, __LINE__);
        check_render(&t, conv_b, 2, texts[i].want_b, __LINE__);
    }

    /* Unknown and absent templates fall back to ChatML. */
    struct chat_tmpl t;
    CHECK(chat_tmpl_detect("{{ messages }}", &t) == INFERD_ENOTFOUND);
    CHECK(t.family == CHAT_TMPL_CHATML);
    CHECK(chat_tmpl_detect(NULL, &t) == INFERD_ENOTFOUND && t.family == CHAT_TMPL_CHATML);
    check_render(&t, conv_b, 2, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", __LINE__);

    /* Names for the config override. */
    CHECK(chat_tmpl_from_name("llama3", &t) == 0 && t.family == CHAT_TMPL_LLAMA3 && t.flags == 0);
    CHECK(chat_tmpl_from_name("llama3.1", &t) == 0 && (t.flags & CHAT_TMPL_F_DATE_HEADER));
    CHECK(chat_tmpl_from_name("gemma", &t) == 0 && t.family == CHAT_TMPL_GEMMA);
    CHECK(chat_tmpl_from_name("no-such", &t) == INFERD_ENOTFOUND);
    for (int f = 0; f < CHAT_TMPL_COUNT; f++) {
        CHECK(chat_tmpl_from_name(chat_tmpl_name((enum chat_tmpl_family)f), &t) == 0);
        CHECK((int)t.family == f);
    }
    check_render(&(struct chat_tmpl){CHAT_TMPL_LLAMA3, 0}, conv_b, 2,
                 "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
                 __LINE__);

    /* Caps and bad input. */
    char *out = NULL;
    struct inferd_err err = {0};
    CHECK(chat_tmpl_render(&t, conv_a, 3, 1, 10, &out, &err) == INFERD_ETOOLARGE && out == NULL);
    CHECK(strstr(err.msg, "cap") != NULL);
    struct chat_msg bad[] = {{"user", NULL}};
    CHECK(chat_tmpl_render(&t, bad, 1, 1, 1000, &out, &err) == INFERD_EINVAL);
    CHECK(strstr(err.msg, "messages[0]") != NULL);
    return check_finish();
}
