#!/usr/bin/env python3
"""Converts VGG16 / VGG19 weights into the safetensors files nst reads: the conv layers
(features.N.weight OIHW and features.N.bias, torchvision's indices N) as float32, with
__metadata__ arch, layout=torchvision and the input convention (preprocess).

usage: convert.py pth SRC.pth DST.safetensors vgg16|vgg19
           a torchvision state dict (needs torch: Debian python3-torch); preprocess=torchvision
       convert.py caffe SRC.caffemodel DST.safetensors vgg16|vgg19
           a Caffe model, e.g. neural-style's VGG_ILSVRC_19_layers.caffemodel (needs
           protobuf: Debian python3-protobuf); preprocess=caffe (BGR, 0..255, mean pixel)

Writes DST atomically (temporary file, fsync, rename). Used by weights/fetch.sh.
"""
import array
import json
import os
import struct
import sys

# torchvision's vgg*.features index of each conv, and the convs per block
INDEX = {"vgg16": [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28],
         "vgg19": [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]}
BLOCKS = {"vgg16": [2, 2, 3, 3, 3], "vgg19": [2, 2, 4, 4, 4]}


def fail(msg):
    sys.exit("convert: " + msg)


def caffe_names(arch):
    """conv1_1, conv1_2, conv2_1, ... in network order (Caffe's layer names)."""
    return ["conv%d_%d" % (b + 1, i + 1) for b, n in enumerate(BLOCKS[arch]) for i in range(n)]


def write(dst, tensors, metadata):
    """tensors: list of (name, shape, flat sequence of floats); stored as F32."""
    header = {"__metadata__": metadata}
    blobs, off = [], 0
    for name, shape, values in tensors:
        a = array.array("f", values)
        if sys.byteorder == "big":
            a.byteswap()  # safetensors is little-endian
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-(8 + len(h)) % 8)  # the data section starts 8-byte aligned
    tmp = dst + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, dst)
    print("convert: wrote %s (%d tensors, %d bytes of float32)" % (dst, len(tensors), off))


def from_pth(src, arch):
    try:
        import torch
    except ImportError:
        fail("reading a .pth needs torch for Python: install python3-torch (Debian)")
    try:
        try:
            sd = torch.load(src, map_location="cpu", weights_only=True)  # no pickled code
        except TypeError:  # torch < 1.13
            sd = torch.load(src, map_location="cpu")
    except Exception as e:  # a truncated or foreign file: pickle, zip and key errors
        fail("%s is not a PyTorch checkpoint torch can read (%s: %s)" % (src, type(e).__name__, e))
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        fail("%s does not hold a state dict" % src)
    names = sorted((k for k in sd if k.startswith("features.")),
                   key=lambda k: (int(k.split(".")[1]), k))
    if len(names) != 2 * len(INDEX[arch]):
        fail("%s has %d features.* tensors, %s needs %d" % (src, len(names), arch, 2 * len(INDEX[arch])))
    tensors = [(k, list(sd[k].shape), sd[k].detach().to(torch.float32).reshape(-1).tolist())
               for k in names]
    return tensors, "torchvision"


def caffe_net_class():
    """NetParameter with the fields of caffe.proto that hold layer names and weights
    (unknown fields are skipped by the parser): layer (100) / layers (2, the V1 format
    of the 2014 VGG models), their name and blobs, BlobProto's shape and data."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="nst_caffe_subset.proto", package="caffe",
                                             syntax="proto2")

    def message(name, fields):
        m = fdp.message_type.add(name=name)
        for fname, number, ftype, repeated, type_name in fields:
            f = m.field.add(name=fname, number=number, type=ftype,
                            label=F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL)
            if type_name:
                f.type_name = ".caffe." + type_name
            if repeated and ftype != F.TYPE_MESSAGE and ftype != F.TYPE_STRING:
                f.options.packed = True  # the parser accepts unpacked data too

    message("BlobShape", [("dim", 1, F.TYPE_INT64, True, None)])
    message("BlobProto", [("num", 1, F.TYPE_INT32, False, None),
                          ("channels", 2, F.TYPE_INT32, False, None),
                          ("height", 3, F.TYPE_INT32, False, None),
                          ("width", 4, F.TYPE_INT32, False, None),
                          ("data", 5, F.TYPE_FLOAT, True, None),
                          ("shape", 7, F.TYPE_MESSAGE, False, "BlobShape"),
                          ("double_data", 8, F.TYPE_DOUBLE, True, None)])
    message("LayerParameter", [("name", 1, F.TYPE_STRING, False, None),
                               ("type", 2, F.TYPE_STRING, False, None),
                               ("blobs", 7, F.TYPE_MESSAGE, True, "BlobProto")])
    message("V1LayerParameter", [("name", 4, F.TYPE_STRING, False, None),
                                 ("blobs", 6, F.TYPE_MESSAGE, True, "BlobProto")])
    message("NetParameter", [("name", 1, F.TYPE_STRING, False, None),
                             ("layers", 2, F.TYPE_MESSAGE, True, "V1LayerParameter"),
                             ("layer", 100, F.TYPE_MESSAGE, True, "LayerParameter")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    desc = pool.FindMessageTypeByName("caffe.NetParameter")
    if hasattr(message_factory, "GetMessageClass"):  # protobuf >= 4.22
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


def blob_values(blob, what):
    """(shape, flat floats) of a BlobProto, new (shape) or old (num/channels/h/w) form."""
    shape = list(blob.shape.dim) if blob.HasField("shape") else \
        [blob.num, blob.channels, blob.height, blob.width]
    values = list(blob.data) if len(blob.data) else list(blob.double_data)
    n = 1
    for d in shape:
        n *= d
    if n != len(values):
        fail("%s: shape %s holds %d values, the blob has %d" % (what, shape, n, len(values)))
    return shape, values


def from_caffe(src, arch):
    try:
        net_class = caffe_net_class()
    except ImportError:
        fail("reading a .caffemodel needs protobuf for Python: install python3-protobuf (Debian)")
    net = net_class()
    with open(src, "rb") as f:
        raw = f.read()
    try:
        net.ParseFromString(raw)
    except Exception as e:  # google.protobuf.message.DecodeError and friends
        fail("%s is not a Caffe model (%s)" % (src, e))
    layers = {l.name: l for l in list(net.layer) + list(net.layers) if len(l.blobs) >= 2}
    tensors, cin, missing = [], 3, []
    for name, idx in zip(caffe_names(arch), INDEX[arch]):
        if name not in layers:
            missing.append(name)
            continue
        if missing:  # nst accepts a prefix of the network, not a gap
            fail("%s has %s but not %s" % (src, name, ", ".join(missing)))
        w_shape, w = blob_values(layers[name].blobs[0], name + " weights")
        b_shape, b = blob_values(layers[name].blobs[1], name + " bias")
        if len(w_shape) != 4 or w_shape[1] != cin or w_shape[2:] != [3, 3]:
            fail("%s: weights of shape %s, expected (K, %d, 3, 3)" % (name, w_shape, cin))
        if len(b) != w_shape[0]:
            fail("%s: %d biases for %d filters" % (name, len(b), w_shape[0]))
        tensors.append(("features.%d.weight" % idx, w_shape, w))
        tensors.append(("features.%d.bias" % idx, [w_shape[0]], b))
        cin = w_shape[0]
    if not tensors:
        fail("%s has none of the layers %s" % (src, ", ".join(caffe_names(arch)[:3]) + ", ..."))
    # Caffe's VGG models take BGR input in 0..255 minus the mean pixel: conv1_1's weights
    # stay in BGR order, and nst feeds BGR (preprocess=caffe).
    return tensors, "caffe"


def main(argv):
    if len(argv) != 5 or argv[1] not in ("pth", "caffe"):
        sys.exit(__doc__)
    kind, src, dst, arch = argv[1:]
    if arch not in INDEX:
        fail("arch must be vgg16 or vgg19, got %r" % arch)
    if not os.path.isfile(src):
        fail("%s: no such file" % src)
    tensors, preprocess = (from_pth if kind == "pth" else from_caffe)(src, arch)
    write(dst, tensors, {"arch": arch, "layout": "torchvision", "preprocess": preprocess})


if __name__ == "__main__":
    main(sys.argv)
