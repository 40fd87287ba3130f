// Shared by the model/vgg*.c files only.
#ifndef NST_VGG_INTERNAL_H
#define NST_VGG_INTERNAL_H

#include "model/vgg.h"

// vgg.c: frees what the last forward kept for backward.
void nst_vgg_drop_kept(nst_vgg *v);

// vgg_run.c: stores a reference to t as kept[i]; s: a layer's input shape (n, c, h, w)
// -> its output shape (-1 when a pool gets less than 2x2).
int nst_vgg_keep(nst_vgg *v, int i, nst_tensor *t, nst_err *e);
int nst_vgg_out_shape(const nst_vgg_layer *l, int64_t s[4], nst_err *e);

// vgg_chain.c: forward and backward on the backend's channels-last chain, once
// vgg_run.c has checked the arguments. depth: the deepest layer to run; deepest: the
// deepest layer a gradient arrives at.
int nst_vgg_chain_forward(nst_vgg *v, const nst_chain_ops *ch, const nst_settings *mode,
                          const nst_tensor *x, int ntaps, const int *taps, nst_tensor **outs,
                          int depth, nst_err *e);
nst_tensor *nst_vgg_chain_backward(nst_vgg *v, const nst_chain_ops *ch, const nst_settings *mode,
                                   int ngrads, const int *layers, const nst_tensor *const *grads,
                                   int deepest, nst_err *e);

#endif
