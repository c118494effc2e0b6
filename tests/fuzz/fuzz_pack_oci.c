/* fuzz_pack_oci.c — libFuzzer driver for the OCI image manifest check that `inferd pull`
 * runs on a registry's answer (src/pack/oci.h), and for oci:// references. Input: the
 * manifest's bytes; its first line is also tried as a reference. */
#include "pack/oci.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct inferd_err err = {0};
    int n = 0;
    if (oci_manifest_check((const char *)data, size, &n, &err) == 0 && (n < 1 || n > 256))
        __builtin_trap();
    char line[512];
    size_t l = 0;
    while (l < size && l < sizeof line - 1 && data[l] != '\n' && data[l] != '\0')
        l++;
    memcpy(line, data, l);
    line[l] = '\0';
    struct oci_ref ref;
    if (oci_parse_ref(line, &ref, &err) == 0 && (strstr(ref.name, "..") || ref.name[0] == '/' || !ref.tag[0]))
        __builtin_trap();
    return 0;
}
