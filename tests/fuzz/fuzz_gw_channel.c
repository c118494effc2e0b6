/* fuzz_gw_channel.c — libFuzzer driver for what the gateway parses from outside: channel
 * definitions (POST /api/channels, the channels file, discovery), and what channels
 * answer to probes (repository index, model list, peers). Input: any bytes. */
#include "gateway/gw_int.h"

#include <stdint.h>
#include <stdlib.h>

static void one(const json_t *def)
{
    struct gw_chan *c;
    struct inferd_err err = {0};
    if (gw_chan_parse(def, "fuzz", &c, &err) != 0)
        return;
    json_t *j = gw_chan_json(c, true);
    char *s = json_dumps(j, JSON_COMPACT);
    free(s);
    json_decref(j);
    (void)gw_chan_upstream_model(c, "m");
    (void)gw_chan_upstream_model(c, "");
    (void)gw_chan_speaks(c, GW_API_V2);
    (void)gw_chan_speaks(c, GW_API_OPENAI);
    gw_chan_unref(NULL, c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    json_t *j = json_loadb(text, size, 0, NULL);
    if (json_is_array(j)) {
        size_t i;
        json_t *e;
        json_array_foreach(j, i, e)
        {
            one(e);
        }
    } else if (j) {
        one(j);
    }
    json_decref(j);
    json_t *models = json_array(), *llms = json_array();
    gw_parse_index(text, size, models);
    gw_parse_model_list(text, size, models, llms);
    json_decref(gw_parse_peers(text, size));
    json_decref(models);
    json_decref(llms);
    return 0;
}
