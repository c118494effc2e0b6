/* dot512_gemv.h — one activation row against 4 weight rows, y[k * ys] = w_k . a with
 * w_k = w + k * ws (a kern_dot4_fn), included after dot512_body.h by dot_avx512.c and
 * dot_avx512vnni.c. Generation's matvec is bound by how many cache misses one core keeps
 * in flight: the caller points the 4 rows at 4 distant quarters of its rows, so the loop
 * reads 4 sequential streams at once (bench/membw's read4: about 1.2-1.5x one stream per
 * core here), and the activation loads and their scale/sum work are shared by the 4 rows.
 * Each row's arithmetic is its dot_*_ twin's, operation for operation, so every y[k * ys] is
 * bit-identical to that row's vec_dot. */

/* F16: dot_f16_'s two accumulators per row. Each stream is also prefetched
 * DOT4_F16_PF_BYTES ahead (past a row's end that is the next row, the caller's next call):
 * the hardware prefetcher alone kept too few misses in flight for 4 streams on Zen 5
 * (bench/gemv_bench on 32000 x 2048: 29 -> 33 GB/s per CPU-second at 1 thread; 512 bytes
 * ahead gained less, 4096 lost). A prefetch never faults, so reading past w's end is safe. */
#ifndef DOT4_F16_PF_BYTES
#define DOT4_F16_PF_BYTES 1024
#endif
void KN(dot4_f16_)(int64_t n, const void *w, size_t ws, const void *a, float *y, size_t ys)
{
    const uint16_t *x[4], *ya = a;
    __m512 acc0[4], acc1[4];
    for (int k = 0; k < 4; k++) {
        x[k] = (const uint16_t *)((const unsigned char *)w + (size_t)k * ws);
        acc0[k] = acc1[k] = _mm512_setzero_ps();
    }
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 y0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(ya + i)));
        __m512 y1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(ya + i + 16)));
        _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)
        {
            _mm_prefetch((const char *)(x[k] + i) + DOT4_F16_PF_BYTES, _MM_HINT_T0);
            __m512 x0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x[k] + i)));
            __m512 x1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x[k] + i + 16)));
            acc0[k] = _mm512_fmadd_ps(x0, y0, acc0[k]);
            acc1[k] = _mm512_fmadd_ps(x1, y1, acc1[k]);
        }
    }
    for (int k = 0; k < 4; k++) {
        float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0[k], acc1[k]));
        for (int64_t j = i; j < n; j++)
            sum += _cvtsh_ss(x[k][j]) * _cvtsh_ss(ya[j]);
        y[(size_t)k * ys] = sum;
    }
}

/* Q8_0: dot_q8_0_'s 256-bit, one-block-per-vector loop per row. */
void KN(dot4_q8_0_)(int64_t n, const void *w, size_t ws, const void *a, float *y, size_t ys)
{
    const struct blk_q8_0 *x[4], *ya = a;
    const int64_t nb = n / 32;
    const __m256i z = _mm256_setzero_si256();
    __m256 acc0[4], acc1[4];
    for (int k = 0; k < 4; k++) {
        x[k] = (const struct blk_q8_0 *)((const unsigned char *)w + (size_t)k * ws);
        acc0[k] = acc1[k] = _mm256_setzero_ps();
    }
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m256i y0 = _mm256_loadu_si256((const __m256i *)ya[i].qs), y1 = _mm256_loadu_si256((const __m256i *)ya[i + 1].qs);
        float d0 = _cvtsh_ss(ya[i].d), d1 = _cvtsh_ss(ya[i + 1].d);
        _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)
        {
            const struct blk_q8_0 *xk = x[k];
            __m256i x0 = _mm256_loadu_si256((const __m256i *)xk[i].qs), x1 = _mm256_loadu_si256((const __m256i *)xk[i + 1].qs);
            __m256i p0 = DP256(z, _mm256_sign_epi8(x0, x0), _mm256_sign_epi8(y0, x0));
            __m256i p1 = DP256(z, _mm256_sign_epi8(x1, x1), _mm256_sign_epi8(y1, x1));
            acc0[k] = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(xk[i].d) * d0), _mm256_cvtepi32_ps(p0), acc0[k]);
            acc1[k] = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(xk[i + 1].d) * d1), _mm256_cvtepi32_ps(p1), acc1[k]);
        }
    }
    for (int k = 0; k < 4; k++) {
        const struct blk_q8_0 *xk = x[k];
        __m256 a0 = acc0[k];
        for (int64_t j = i; j < nb; j++) {
            __m256i x0 = _mm256_loadu_si256((const __m256i *)xk[j].qs), y0 = _mm256_loadu_si256((const __m256i *)ya[j].qs);
            __m256i p0 = DP256(z, _mm256_sign_epi8(x0, x0), _mm256_sign_epi8(y0, x0));
            a0 = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(xk[j].d) * _cvtsh_ss(ya[j].d)), _mm256_cvtepi32_ps(p0), a0);
        }
        __m256 v = _mm256_add_ps(a0, acc1[k]);
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        h = _mm_add_ss(h, _mm_movehdup_ps(h));
        y[(size_t)k * ys] = _mm_cvtss_f32(h);
    }
}

/* Q4_K, Q5_K, Q2_K, Q3_K (AVX-512 VNNI): dot_k_body.h's steps, dot512_body.h's KDOT_K */

/* Q6_K: dot_q6_k_'s super-block step per row; activation quants and bsums shared. */
void KN(dot4_q6_k_)(int64_t n, const void *w, size_t ws, const void *a, float *y, size_t ys)
{
    const struct blk_q6_k *x[4];
    const struct blk_q8_k *ya = a;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30), z = _mm512_setzero_si512();
    const __m512i shl = _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2), shr = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2);
    const __m512i sidx0 = _mm512_set_epi16(7, 7, 7, 7, 3, 3, 3, 3, 6, 6, 6, 6, 2, 2, 2, 2, 5, 5, 5, 5, 1, 1, 1, 1, 4,
                                           4, 4, 4, 0, 0, 0, 0);
    const __m512i sidx1 = _mm512_add_epi16(sidx0, _mm512_set1_epi16(8));
    __m512 acc[4];
    for (int k = 0; k < 4; k++) {
        x[k] = (const struct blk_q6_k *)((const unsigned char *)w + (size_t)k * ws);
        acc[k] = _mm512_setzero_ps();
    }
    for (int64_t i = 0; i < n / QK_K; i++) {
        __m256i bs = _mm256_loadu_si256((const __m256i *)ya[i].bsums);
        __m512i av[4];
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) /* else av[] lives on the stack */
            av[j] = _mm512_loadu_si512((const void *)(ya[i].qs + 64 * j));
        _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)
        {
            const struct blk_q6_k *xk = &x[k][i];
            __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)xk->scales));
            __m512i sc0 = _mm512_permutexvar_epi16(sidx0, _mm512_castsi256_si512(sc));
            __m512i sc1 = _mm512_permutexvar_epi16(sidx1, _mm512_castsi256_si512(sc));
            __m512i sumi = _mm512_zextsi256_si512(
                _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(sc, bs), 5)));
            for (int c = 0; c < 2; c++) {
                __m512i l = _mm512_loadu_si512((const void *)(xk->ql + 64 * c));
                __m512i h = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(xk->qh + 32 * c)));
                __m512i qa = _mm512_ternarylogic_epi32(l, m4, _mm512_and_si512(_mm512_sllv_epi64(h, shl), m30), 0xEA);
                __m512i qb = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                                             _mm512_and_si512(_mm512_srlv_epi64(h, shr), m30));
                __m512i p16 = _mm512_packs_epi32(DP(z, qa, av[2 * c]), DP(z, qb, av[2 * c + 1]));
                sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(p16, c ? sc1 : sc0));
            }
            acc[k] = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(xk->d) * ya[i].d), _mm512_cvtepi32_ps(sumi), acc[k]);
        }
    }
    for (int k = 0; k < 4; k++)
        y[(size_t)k * ys] = _mm512_reduce_add_ps(acc[k]);
}

#ifdef KERN_VNNI
/* Q4_0 with VNNI, 4 blocks a step: the blocks' 72 bytes come in with two 64-byte loads (at
 * +0 and +8, both inside the 4 blocks), one vpermt2w gathers their 64 bytes of nibbles
 * (every qs dword starts at an even offset) into [E | O]: lane L of E holds qs bytes
 * 8h..8h+3 of block b and lane L of O bytes 8h+4..8h+7, for (b, h) in the order
 *   L = 0..7: (0,0) (0,1) (2,0) (2,1) (1,0) (1,1) (3,0) (3,1)
 * (the order the older vphaddd step left its sums in, so the float lanes, and every
 * result, stay bit-identical). One vpand / vpsrlw+vpand gives the low and high nibbles, two
 * 512-bit vpdpbusd take them against the activations arranged to match (q4_0_vnni_act:
 * elements 0..15 for the low nibbles, 16..31 for the high, -8 sum(a) as the start), and
 * E + O leaves each (b, h) sum in one i32 lane: the same exact integers as before. The 4
 * f16 scales come out of the first load with one vpermw, already in lane order. 15
 * instructions a row for 4 blocks against the vpdpbusd-on-ymm step's 21, and the shared
 * activation step is 4 loads, 3 vpermt2w and the -8 sum(a) (was 25 with a scalar scale
 * gather). On Zen 4 (512-bit ops on 256-bit units) the in-L2 dot4 rate barely moved (27.3
 * GB/s per CPU-second at best either way, mean of 10 loaded runs 20.5 -> 21.9; session 15,
 * a machine at load 10).
 * dot4_q4_0_ is 4 rows of dot_q4_0_'s arithmetic, bit-identical per row. */
struct q4_0_vnni_act {
    __m512i lo, hi; /* [E | O] activations for the low nibbles (elements 0..15), high (16..31) */
    __m512i neg;    /* -8 sum(a) of each lane's elements */
    __m256 d;       /* the blocks' scales in lane order: d0 d0 d2 d2 d1 d1 d3 d3 */
};

/* Word w of the 4 activation blocks (136 bytes) from the 64-byte loads at +B0 (w - B0/2 < 32)
 * and +B1 (the rest), as a vpermt2w index. */
#define Q8W(w, b0, b1) ((w) - (b0) / 2 < 32 ? (w) - (b0) / 2 : (w) - (b1) / 2 + 32)
/* the two words of activation dword (b, j): qs bytes 4j..4j+3 of block b (byte 34b + 2 + 4j) */
#define Q8D(b, j, b0, b1) Q8W(17 * (b) + 1 + 2 * (j), b0, b1), Q8W(17 * (b) + 2 + 2 * (j), b0, b1)
/* E lanes (b, h) take dword 2h (+4 for the high 16 elements), O lanes dword 2h + 1 */
#define Q8LANES(o, b0, b1)                                                                               \
    {Q8D(0, o + 0, b0, b1), Q8D(0, o + 2, b0, b1), Q8D(2, o + 0, b0, b1), Q8D(2, o + 2, b0, b1),          \
     Q8D(1, o + 0, b0, b1), Q8D(1, o + 2, b0, b1), Q8D(3, o + 0, b0, b1), Q8D(3, o + 2, b0, b1),          \
     Q8D(0, o + 1, b0, b1), Q8D(0, o + 3, b0, b1), Q8D(2, o + 1, b0, b1), Q8D(2, o + 3, b0, b1),          \
     Q8D(1, o + 1, b0, b1), Q8D(1, o + 3, b0, b1), Q8D(3, o + 1, b0, b1), Q8D(3, o + 3, b0, b1)}

static inline void q4_0_vnni_act_load(const struct blk_q8_0 *y, struct q4_0_vnni_act *t)
{
    /* 4 blocks of 34 bytes: the low halves' dwords and the scales (words 17b) come from the
     * loads at +0 and +64, the high halves' from +16 and +72 (all inside the 136 bytes) */
    static const uint16_t il[32] = Q8LANES(0, 0, 64), ih[32] = Q8LANES(4, 16, 72);
    static const uint16_t id[32] = {0, 0, 34, 34, 17, 17, 51, 51};
    _Static_assert(sizeof(struct blk_q8_0) == 34, "Q8_0 blocks are 34 bytes");
    const __m512i z = _mm512_setzero_si512(), eight = _mm512_set1_epi8(8);
    const unsigned char *p = (const unsigned char *)y;
    __m512i r0 = _mm512_loadu_si512((const void *)p), r64 = _mm512_loadu_si512((const void *)(p + 64));
    __m512i r16 = _mm512_loadu_si512((const void *)(p + 16)), r72 = _mm512_loadu_si512((const void *)(p + 72));
    t->lo = _mm512_permutex2var_epi16(r0, _mm512_loadu_si512((const void *)il), r64);
    t->hi = _mm512_permutex2var_epi16(r16, _mm512_loadu_si512((const void *)ih), r72);
    t->neg = _mm512_sub_epi32(z, _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(z, eight, t->lo), eight, t->hi));
    t->d = _mm256_cvtph_ps(_mm512_castsi512_si128(_mm512_permutex2var_epi16(r0, _mm512_loadu_si512((const void *)id), r64)));
}
#undef Q8LANES
#undef Q8D
#undef Q8W

/* weight blocks x[0..3] against t into acc */
static inline __m256 q4_0_vnni_step4(const struct blk_q4_0 *x, const struct q4_0_vnni_act *t, __m256 acc)
{
    _Static_assert(sizeof(struct blk_q4_0) == 18, "Q4_0 blocks are 18 bytes");
    /* word w < 32: bytes 2w, 2w+1 of the load at +0; w >= 32: of the load at +8. E lane
     * (b, h): qs bytes at 18b + 2 + 8h (words 9b + 1 + 4h, +1), O lane: 4 bytes on. */
#define Q4W(b, h) (9 * (b) + 1 + 4 * (h))
#define Q4L(w) ((w) < 32 ? (w) : (w) - 4 + 32), ((w) + 1 < 32 ? (w) + 1 : (w) + 1 - 4 + 32)
    static const uint16_t iw[32] = {Q4L(Q4W(0, 0)),     Q4L(Q4W(0, 1)),     Q4L(Q4W(2, 0)),     Q4L(Q4W(2, 1)),
                                    Q4L(Q4W(1, 0)),     Q4L(Q4W(1, 1)),     Q4L(Q4W(3, 0)),     Q4L(Q4W(3, 1)),
                                    Q4L(Q4W(0, 0) + 2), Q4L(Q4W(0, 1) + 2), Q4L(Q4W(2, 0) + 2), Q4L(Q4W(2, 1) + 2),
                                    Q4L(Q4W(1, 0) + 2), Q4L(Q4W(1, 1) + 2), Q4L(Q4W(3, 0) + 2), Q4L(Q4W(3, 1) + 2)};
#undef Q4L
#undef Q4W
    /* the f16 scale of block b is word 9b of the load at +0 */
    static const uint16_t sw[32] = {0, 0, 18, 18, 9, 9, 27, 27};
    const __m512i idx = _mm512_loadu_si512((const void *)iw), sidx = _mm512_loadu_si512((const void *)sw);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const unsigned char *p = (const unsigned char *)x;
    __m512i r0 = _mm512_loadu_si512((const void *)p), r1 = _mm512_loadu_si512((const void *)(p + 8));
    __m512i q = _mm512_permutex2var_epi16(r0, idx, r1);
    __m512i s = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(t->neg, _mm512_and_si512(q, m4), t->lo),
                                    _mm512_and_si512(_mm512_srli_epi16(q, 4), m4), t->hi);
    __m256i si = _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
    __m256 dw = _mm256_cvtph_ps(_mm512_castsi512_si128(_mm512_permutexvar_epi16(sidx, r0)));
    return _mm256_fmadd_ps(_mm256_mul_ps(dw, t->d), _mm256_cvtepi32_ps(si), acc);
}

/* one block (the 4-block steps' tail): its 16 bytes of nibbles in element order */
static inline __m256 q4_0_vnni_block(const struct blk_q4_0 *x, const struct blk_q8_0 *y, __m256 acc)
{
    const __m256i z = _mm256_setzero_si256();
    __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)x->qs));
    v = _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0F));
    __m256i yk = _mm256_loadu_si256((const __m256i *)y->qs);
    __m256i p = _mm256_dpbusd_epi32(_mm256_sub_epi32(z, _mm256_dpbusd_epi32(z, _mm256_set1_epi8(8), yk)), v, yk);
    return _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(x->d) * _cvtsh_ss(y->d)), _mm256_cvtepi32_ps(p), acc);
}

static inline float hsum8_ps(__m256 v)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* W q4_0 (n,) . a q8_0 (n,) */
void KN(dot_q4_0_)(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_q4_0 *x = w;
    const struct blk_q8_0 *y = a;
    const int64_t nb = n / 32;
    int64_t i = 0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (; i + 8 <= nb; i += 8) { /* two chains of multiply-adds */
        struct q4_0_vnni_act t;
        q4_0_vnni_act_load(&y[i], &t);
        acc0 = q4_0_vnni_step4(&x[i], &t, acc0);
        q4_0_vnni_act_load(&y[i + 4], &t);
        acc1 = q4_0_vnni_step4(&x[i + 4], &t, acc1);
    }
    if (i + 4 <= nb) {
        struct q4_0_vnni_act t;
        q4_0_vnni_act_load(&y[i], &t);
        acc0 = q4_0_vnni_step4(&x[i], &t, acc0);
        i += 4;
    }
    for (; i < nb; i++)
        acc0 = q4_0_vnni_block(&x[i], &y[i], acc0);
    *s = hsum8_ps(_mm256_add_ps(acc0, acc1));
}

void KN(dot4_q4_0_)(int64_t n, const void *w, size_t ws, const void *a, float *y, size_t ys)
{
    const struct blk_q4_0 *x[4];
    const struct blk_q8_0 *ya = a;
    const int64_t nb = n / 32;
    int64_t i = 0;
    __m256 acc0[4], acc1[4];
    for (int k = 0; k < 4; k++) {
        x[k] = (const struct blk_q4_0 *)((const unsigned char *)w + (size_t)k * ws);
        acc0[k] = acc1[k] = _mm256_setzero_ps();
    }
    for (; i + 8 <= nb; i += 8) {
        struct q4_0_vnni_act t;
        q4_0_vnni_act_load(&ya[i], &t);
        _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)
            acc0[k] = q4_0_vnni_step4(&x[k][i], &t, acc0[k]);
        q4_0_vnni_act_load(&ya[i + 4], &t);
        _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)
            acc1[k] = q4_0_vnni_step4(&x[k][i + 4], &t, acc1[k]);
    }
    if (i + 4 <= nb) {
        struct q4_0_vnni_act t;
        q4_0_vnni_act_load(&ya[i], &t);
        _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)
            acc0[k] = q4_0_vnni_step4(&x[k][i], &t, acc0[k]);
        i += 4;
    }
    for (int k = 0; k < 4; k++) {
        for (int64_t j = i; j < nb; j++)
            acc0[k] = q4_0_vnni_block(&x[k][j], &ya[j], acc0[k]);
        y[(size_t)k * ys] = hsum8_ps(_mm256_add_ps(acc0[k], acc1[k]));
    }
}
#endif
