/* fileio.c — atomic replace, folder fsync, hashing copy, tree removal. */
#include "base/fileio.h"

#include "base/path.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <ftw.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void file_hex(const uint8_t *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

int file_fsync_dir(const char *dir, struct inferd_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return inferd_err_set(err, INFERD_EIO, "%s: %s", dir, strerror(errno));
    int rc = fsync(fd) == 0 ? 0 : inferd_err_set(err, INFERD_EIO, "%s: fsync: %s", dir, strerror(errno));
    close(fd);
    return rc;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The folder part of path ("." when none). */
static void dir_of(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, cap, ".");
    else if (slash == path)
        snprintf(out, cap, "/");
    else
        snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct inferd_err *err)
{
    char tmp[PATH_MAX_LEN], dir[PATH_MAX_LEN];
    static atomic_uint seq; /* two threads of one process writing one path get two temps */
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&seq, 1)) >= (int)sizeof tmp)
        return inferd_err_set(err, INFERD_ETOOLARGE, "%.200s...: path longer than %d bytes", path, PATH_MAX_LEN - 1);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return inferd_err_set(err, INFERD_EIO, "%s: %s", tmp, strerror(errno));
    if (write_all(fd, data, len) < 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return inferd_err_set(err, INFERD_EIO, "%s: %s", tmp, strerror(e));
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return inferd_err_set(err, INFERD_EIO, "%s: rename: %s", path, strerror(e));
    }
    dir_of(path, dir, sizeof dir);
    return file_fsync_dir(dir, err);
}

int file_copy(const char *src, const char *dst, uint8_t sha256[32], file_progress_fn progress, void *ctx,
              struct inferd_err *err)
{
    enum { CHUNK = 1 << 20 };
    int in = -1, out = -1, rc = 0;
    uint8_t *buf = NULL;
    struct sha256_ctx h;
    struct stat st;
    int64_t done = 0;
    sha256_init(&h);
    in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0 || fstat(in, &st) != 0) {
        rc = inferd_err_set(err, errno == ENOENT ? INFERD_ENOTFOUND : INFERD_EIO, "%s: %s", src, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = inferd_err_set(err, INFERD_EINVAL, "%s: not a regular file", src);
        goto fail;
    }
    buf = malloc(CHUNK);
    if (!buf) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "%s: out of memory", src);
        goto fail;
    }
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) {
        rc = inferd_err_set(err, INFERD_EIO, "%s: %s", dst, strerror(errno));
        goto fail;
    }
    for (;;) {
        ssize_t n = read(in, buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = inferd_err_set(err, INFERD_EIO, "%s: read: %s", src, strerror(errno));
            goto fail_unlink;
        }
        if (n == 0)
            break;
        sha256_update(&h, (size_t)n, buf);
        if (write_all(out, buf, (size_t)n) < 0) {
            rc = inferd_err_set(err, INFERD_EIO, "%s: write: %s", dst, strerror(errno));
            goto fail_unlink;
        }
        done += n;
        if (progress)
            progress(ctx, done, (int64_t)st.st_size);
    }
    if (fsync(out) != 0) {
        rc = inferd_err_set(err, INFERD_EIO, "%s: fsync: %s", dst, strerror(errno));
        goto fail_unlink;
    }
    if (sha256)
        sha256_digest(&h, 32, sha256);
    close(out);
    close(in);
    free(buf);
    return 0;
fail_unlink:
    unlink(dst);
fail:
    if (out >= 0)
        close(out);
    if (in >= 0)
        close(in);
    free(buf);
    return rc;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int r = (flag == FTW_DP) ? rmdir(path) : unlink(path);
    return (r != 0 && errno != ENOENT) ? -1 : 0;
}

int file_remove_tree(const char *path, struct inferd_err *err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : inferd_err_set(err, INFERD_EIO, "%s: %s", path, strerror(errno));
    if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return inferd_err_set(err, INFERD_EIO, "%s: could not remove: %s", path, strerror(errno));
    return 0;
}
