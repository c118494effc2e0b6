/* dot512_gemv.h — one activation row against 4 weight rows, y[k * ys] = w_k . a with
 * w_k = w + k * ws (a kern_dot4_fn), included after dot512_body.h by dot_avx512.c and
 * dot_avx512vnni.c. Generation's matvec is bound by how many cache misses one core keeps
 * in flight: the caller points the 4 rows at 4 distant quarters of its rows, so the loop
 * reads 4 sequential streams at once (bench/membw's read4: about 1.2-1.5x one stream per
 * core here), and the activation loads and their scale/sum work are shared by the 4 rows.
 * Each row's arithmetic is its dot_*_ twin's, operation for operation, so every y[k * ys] is
 * bit-identical to that row's vec_dot. */

/* F16: dot_f16_'s two accumulators per row. */
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
/* Q4_0 with VNNI, 256-bit (EVEX vpdpbusd on ymm): dot_avx2_q4_0's 4-block step with the
 * integer reduction done by vpdpbusd. Pair p holds blocks 2p | 2p+1 (their low nibbles,
 * elements 0..15, against the activations' 0..15; high nibbles against 16..31, as
 * q4_0_act4 arranges them); each pair's two vpdpbusd accumulate onto -8 sum(a) of its blocks
 * (made once per activation step), and one vphaddd of the two pairs leaves i32 lanes
 * [b0 b0 b2 b2 | b1 b1 b3 b3], scaled as in dot_avx2_q4_0. 21 instructions a row for 4
 * blocks against the vpmaddubsw step's 25 (gemv_bench in L2, dot4: 22 -> 26 GB/s per
 * CPU-second). dot4_q4_0_ is 4 rows of dot_q4_0_'s arithmetic, bit-identical per row. */
struct q4_0_vnni_act {
    __m256i lo[2], hi[2]; /* pair p: elements 0..15 (lo) and 16..31 (hi) of blocks 2p | 2p+1 */
    __m256i neg[2];       /* pair p: -8 sum(a), 4 lanes per block */
    __m128 d;             /* the 4 blocks' scales */
};

static inline void q4_0_vnni_act_load(const struct blk_q8_0 *y, struct q4_0_vnni_act *t)
{
    const __m256i eight = _mm256_set1_epi8(8), z = _mm256_setzero_si256();
    for (int p = 0; p < 2; p++) {
        t->lo[p] = kq_load_2x128(y[2 * p].qs, y[2 * p + 1].qs);
        t->hi[p] = kq_load_2x128(y[2 * p].qs + 16, y[2 * p + 1].qs + 16);
        t->neg[p] = _mm256_sub_epi32(z, _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(z, eight, t->lo[p]), eight, t->hi[p]));
    }
    t->d = _mm_cvtph_ps(_mm_setr_epi16((short)y[0].d, (short)y[1].d, (short)y[2].d, (short)y[3].d, 0, 0, 0, 0));
}

/* weight blocks x[0..3] against t into acc */
static inline __m256 q4_0_vnni_step4(const struct blk_q4_0 *x, const struct q4_0_vnni_act *t, __m256 acc)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256i s[2];
    for (int p = 0; p < 2; p++) {
        __m256i v = kq_load_2x128(x[2 * p].qs, x[2 * p + 1].qs);
        s[p] = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(t->neg[p], _mm256_and_si256(v, m4), t->lo[p]),
                                   _mm256_and_si256(_mm256_srli_epi16(v, 4), m4), t->hi[p]);
    }
    __m128 dw = _mm_cvtph_ps(kq_q4_0_scales4(x));
    __m256 d = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_mul_ps(dw, t->d)),
                                        _mm256_setr_epi32(0, 0, 2, 2, 1, 1, 3, 3));
    return _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_hadd_epi32(s[0], s[1])), acc);
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
