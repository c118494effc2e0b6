/* window.c — kernel/stride/dilation/padding resolution shared by Conv and the 2-D pools
 * (auto_pad NOTSET with explicit pads, SAME_UPPER, SAME_LOWER, VALID; ceil_mode for pools). */
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

static int ints2(const struct ox_node *n, const char *name, int64_t dflt, int64_t *a, int64_t *b,
                 struct inferd_err *err)
{
    const struct ox_attr *at = ox_attr_find(n, name);
    *a = *b = dflt;
    if (!at || at->type != OX_ATTR_INTS)
        return 0;
    if (at->n_ints != 2)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: %s has %lld entries (2-D only)", n->op_type, name,
                              (long long)at->n_ints);
    *a = at->ints[0];
    *b = at->ints[1];
    return 0;
}

static int64_t out_size(int64_t in, int64_t pads, int64_t ext, int64_t s, int ceil_mode)
{
    int64_t span = in + pads - ext;
    if (span < 0)
        return 0;
    return (ceil_mode ? (span + s - 1) / s : span / s) + 1;
}

int ox_window_resolve(const struct ox_node *n, int64_t h, int64_t w, int64_t kh, int64_t kw, int ceil_mode,
                      struct ox_window *win, struct inferd_err *err)
{
    memset(win, 0, sizeof *win);
    win->kh = kh;
    win->kw = kw;
    int rc;
    if ((rc = ints2(n, "strides", 1, &win->sh, &win->sw, err)) < 0 ||
        (rc = ints2(n, "dilations", 1, &win->dh, &win->dw, err)) < 0)
        return rc;
    if (kh < 1 || kw < 1 || win->sh < 1 || win->sw < 1 || win->dh < 1 || win->dw < 1 || kh > 1 << 16 ||
        kw > 1 << 16 || win->dh > 1 << 16 || win->dw > 1 << 16)
        return inferd_err_set(err, INFERD_EINVAL, "%s: kernel/strides/dilations must be >= 1", n->op_type);
    int64_t eh = (kh - 1) * win->dh + 1, ew = (kw - 1) * win->dw + 1;
    const struct ox_attr *ap = ox_attr_find(n, "auto_pad");
    const char *mode = ap && ap->s ? ap->s : "NOTSET";
    if (strcmp(mode, "SAME_UPPER") == 0 || strcmp(mode, "SAME_LOWER") == 0) {
        win->oh = (h + win->sh - 1) / win->sh;
        win->ow = (w + win->sw - 1) / win->sw;
        int64_t th = (win->oh - 1) * win->sh + eh - h, tw = (win->ow - 1) * win->sw + ew - w;
        th = th < 0 ? 0 : th;
        tw = tw < 0 ? 0 : tw;
        int upper = mode[5] == 'U';
        win->pt = upper ? th / 2 : th - th / 2;
        win->pb = th - win->pt;
        win->pl = upper ? tw / 2 : tw - tw / 2;
        win->pr = tw - win->pl;
        return 0;
    }
    if (strcmp(mode, "VALID") != 0 && strcmp(mode, "NOTSET") != 0)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: auto_pad '%s'", n->op_type, mode);
    if (strcmp(mode, "NOTSET") == 0) {
        const struct ox_attr *pa = ox_attr_find(n, "pads");
        if (pa && pa->type == OX_ATTR_INTS) {
            if (pa->n_ints != 4)
                return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: pads has %lld entries (2-D only)", n->op_type,
                                      (long long)pa->n_ints);
            win->pt = pa->ints[0];
            win->pl = pa->ints[1];
            win->pb = pa->ints[2];
            win->pr = pa->ints[3];
            for (int i = 0; i < 4; i++)
                if (pa->ints[i] < 0 || pa->ints[i] > 1 << 16)
                    return inferd_err_set(err, INFERD_EINVAL, "%s: pads out of range", n->op_type);
        }
    }
    win->oh = out_size(h, win->pt + win->pb, eh, win->sh, ceil_mode);
    win->ow = out_size(w, win->pl + win->pr, ew, win->sw, ceil_mode);
    /* ceil_mode: a last window that starts inside the right/bottom padding is dropped */
    if (ceil_mode && win->oh > 0 && (win->oh - 1) * win->sh >= h + win->pt)
        win->oh--;
    if (ceil_mode && win->ow > 0 && (win->ow - 1) * win->sw >= w + win->pl)
        win->ow--;
    return 0;
}
