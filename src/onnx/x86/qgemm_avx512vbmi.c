/* qgemm_avx512vbmi.c — qgemm_u8_avx512vbmi_rows_rq (see ops/qgemm.h): the AVX-512 VNNI GEMM
 * with the requantising epilogue of qgemm_avx512vnni.c and the DQ -> Q table looked up there,
 * in registers (vpermt2b), instead of on the stored bytes. Compiled with -mavx512f
 * -mavx512bw -mavx512vl -mavx512vnni -mavx512vbmi; call only after qgemm_chain_lut_usable().
 */
#define QGEMM_ROWS_RQ qgemm_u8_avx512vbmi_rows_rq
#define QG_RQ_LUT 1
#include "qgemm_zmm.h"
#include "qgemm_vnni_body.h"
