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

/* (No Q4_K twin: its dot is bound by its unpacking work, not by memory, and a 4-row version
 * measured slower per CPU-second in bench/gemv_bench.) */

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
