// Limits on sizes that come from outside (nst.set_limits), and checked size arithmetic.
#include "core/nst.h"

size_t nst_max_tensor_bytes = (size_t)8 << 30; // 8 GiB for one tensor
size_t nst_max_image_pixels = (size_t)1 << 28; // 268 Mpixel (16384 x 16384)

int nst_mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return -1;
    *out = a * b;
    return 0;
}

int nst_shape_check(int ndim, const int64_t *shape, size_t *numel, nst_err *e) {
    if (ndim < 1 || ndim > NST_MAX_DIMS)
        return nst_fail(e, "a tensor has 1 to %d dimensions, got %d", NST_MAX_DIMS, ndim);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1)
            return nst_fail(e, "size of dimension %d must be a positive integer, got %lld", i + 1,
                            (long long)shape[i]);
        size_t bytes;
        if (nst_mul_size(n, (size_t)shape[i], &n) || nst_mul_size(n, sizeof(float), &bytes) ||
            bytes > nst_max_tensor_bytes) {
            return nst_fail(e,
                            "tensor too large: more than the limit of %zu bytes (nst.set_limits)",
                            nst_max_tensor_bytes);
        }
    }
    *numel = n;
    return 0;
}
