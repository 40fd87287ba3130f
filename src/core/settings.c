// Device settings (see settings.h): held here, handed to the backends.
#include "core/backend.h"

// Until changed: the CPU computes in float32 on NCHW tensors; CUDA uses TF32 tensor
// cores and the layout measured best.
static nst_settings current[NST_NDEVICES] = {
    [NST_CPU] = {NST_FP32, NST_LAYOUT_NCHW},
    [NST_CUDA] = {NST_TF32, NST_LAYOUT_AUTO},
};

const nst_settings *nst_settings_get(nst_device d) { return &current[d]; }

int nst_settings_set(nst_device d, const nst_settings *s, nst_err *e) {
    const nst_backend *b = nst_backend_table(d);
    if (!b) return nst_fail(e, "nst was built without CUDA (nvcc not found at build time)");
    if (b->configure(s, e)) return -1;
    current[d] = *s;
    return 0;
}
