/* web_assets.c — lookup in the table generated from web/ (observe/web_assets.h). */
#include "observe/web_assets.h"

#include <string.h>

const struct web_asset *web_asset_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < web_assets_count; i++)
        if (strcmp(web_assets[i].name, name) == 0)
            return &web_assets[i];
    return NULL;
}
