// Device settings: how a backend runs its convolutions and GEMMs. The core holds them,
// one set per device; the bindings change them (the option strings are parsed there,
// into these enums); the core hands them to the backend's configure slot when the
// backend is registered and on every change, so a backend's state always equals what
// the core holds and nobody needs to ask the backend what it is doing. The VGG is given
// the settings of its device with every forward and backward (model/vgg.h).
#ifndef NST_SETTINGS_H
#define NST_SETTINGS_H

#include "core/nst.h"

// Math of convolutions and GEMMs (CUDA; the CPU computes in float32 only):
//   FP32 full float32: cuDNN FMA kernels only, cuBLAS without TF32.
//   TF32 float32 storage, TF32 tensor cores for convolutions and GEMMs.
//   BF16 convolutions on bf16 copies of activations and weights, float accumulation;
//        outputs converted back to float. GEMMs use TF32.
typedef enum nst_precision { NST_FP32 = 0, NST_TF32 = 1, NST_BF16 = 2 } nst_precision;

// Memory layout of convolutions:
//   NCHW  the backend works on nst's NCHW tensors directly.
//   NHWC  channels-last: input and output converted (channels padded to 8) around each
//         convolution (CUDA).
//   CHAIN as NHWC, and the VGG keeps its activations and gradients in the backend's
//         channels-last chain between layers (backend.h, nst_chain_ops).
//   AUTO  the layout the backend measured best: NCHW for now (kernels/README.md).
typedef enum nst_conv_layout {
    NST_LAYOUT_AUTO = 0,
    NST_LAYOUT_NCHW = 1,
    NST_LAYOUT_NHWC = 2,
    NST_LAYOUT_CHAIN = 3
} nst_conv_layout;

typedef struct nst_settings {
    nst_precision precision;
    nst_conv_layout layout;
} nst_settings;

// The settings of device d now (CPU: fp32, nchw; CUDA: tf32, auto until changed).
const nst_settings *nst_settings_get(nst_device d);
// Checks s with the device's backend (its configure slot: -1 with a message for what
// it cannot do) and makes it the device's settings. Works before the device is first
// used and without the device present (nothing touches a driver); -1 when nst was
// built without the device's backend.
int nst_settings_set(nst_device d, const nst_settings *s, nst_err *e);

#endif
