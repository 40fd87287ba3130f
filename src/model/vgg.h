// VGG16/VGG19 feature extractor: layer table, weights from safetensors, forward to the
// deepest tap, backward to the network input. Weights never get gradients.
//
// The caller tells every forward and backward the settings of the network's device
// (core/settings.h, nst_settings_get): with the chain layout the network runs on the
// backend's channels-last chain (model/vgg_chain.c), else on NCHW tensors through the
// core's ops (model/vgg_run.c). A backward whose settings no longer fit the buffers its
// forward kept (the chain's element type changed) is an error: run forward again.
#ifndef NST_VGG_H
#define NST_VGG_H

#include "core/backend.h"
#include "core/settings.h"

#define NST_VGG_MAX_LAYERS 37 // VGG19: 16 conv + 16 relu + 5 pool

typedef enum nst_vgg_kind { NST_VGG_CONV, NST_VGG_RELU, NST_VGG_POOL } nst_vgg_kind;

typedef struct nst_vgg_layer {
    char name[12]; // conv1_1, relu1_1, ..., pool5
    nst_vgg_kind kind;
    int in_c, out_c;
    int index; // position in torchvision's vgg.features
    nst_tensor *w, *b; // conv weights (K,C,3,3) and bias (K); NULL when not loaded
    nst_tensor *wchain; // w as the backend's chain takes it (made on first chained use)
    size_t wchain_elem; // the chain's element size it was made for
} nst_vgg_layer;

typedef struct nst_vgg {
    char arch[8]; // "vgg16" | "vgg19"
    int n;
    nst_vgg_layer layer[NST_VGG_MAX_LAYERS];
    int usable; // layers [0, usable) have their weights
    nst_pool pool;
    nst_device device;
    // Kept from the last forward for backward: ReLU outputs (ReLU mask and max-pool
    // input) and every layer's output shape. depth = layers run (0: none yet).
    nst_tensor *kept[NST_VGG_MAX_LAYERS];
    int64_t out_shape[NST_VGG_MAX_LAYERS][4];
    int64_t in_shape[4];
    int depth;
    // The last forward ran on the backend's channels-last chain (backend.h): kept[] then
    // holds chain buffers (1-D tensors of raw bytes), not NCHW float tensors.
    int chained;
    size_t chain_elem; // the chain's bytes per element in that forward's settings
} nst_vgg;

// A network with arch's layer table and no weights.
nst_vgg *nst_vgg_new(const char *arch, nst_pool pool, nst_device dev, nst_err *e);
void nst_vgg_free(nst_vgg *v);
// Loads the conv weights found in a safetensors file (torchvision names); a file may
// hold a prefix of the network. Checks every shape.
int nst_vgg_load(nst_vgg *v, const char *path, nst_err *e);
// Index of the layer named name, or -1.
int nst_vgg_find(const nst_vgg *v, const char *name);
// Runs x (N,3,H,W) through layers up to the deepest tap; outs[i] receives a new tensor
// reference for taps[i]. mode: the device's settings now.
int nst_vgg_forward(nst_vgg *v, const nst_settings *mode, const nst_tensor *x, int ntaps,
                    const int *taps, nst_tensor **outs, nst_err *e);
// Gradient w.r.t. the last forward's input given gradients at some layers' outputs.
nst_tensor *nst_vgg_backward(nst_vgg *v, const nst_settings *mode, int ngrads, const int *layers,
                             const nst_tensor *const *grads, nst_err *e);

#endif
