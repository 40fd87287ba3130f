// Test oracle: OpenCV's own cv::remap (INTER_LINEAR) on raw float32 files, to check
// nst.warp against. Usage: opencv_remap C H W replicate|zero IMG FLOW OUT, where IMG is
// (C,H,W) planar, FLOW (2,H,W) planar (x then y displacement) and OUT gets (C,H,W):
// OUT[c](y, x) = IMG[c] sampled at (x + FLOW[0](y, x), y + FLOW[1](y, x)).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <opencv2/imgproc.hpp>
#include <vector>

static bool read_all(const char *path, std::vector<float> &v) {
    FILE *f = std::fopen(path, "rb");
    if (!f) return false;
    size_t got = std::fread(v.data(), sizeof(float), v.size(), f);
    std::fclose(f);
    return got == v.size();
}

int main(int argc, char **argv) {
    if (argc != 8) {
        std::fprintf(stderr, "usage: opencv_remap C H W replicate|zero IMG FLOW OUT\n");
        return 2;
    }
    int c = std::atoi(argv[1]), h = std::atoi(argv[2]), w = std::atoi(argv[3]);
    int border = std::strcmp(argv[4], "zero") == 0 ? cv::BORDER_CONSTANT : cv::BORDER_REPLICATE;
    size_t hw = (size_t)h * w;
    std::vector<float> img(c * hw), flow(2 * hw), out(c * hw);
    if (!read_all(argv[5], img) || !read_all(argv[6], flow)) {
        std::fprintf(stderr, "opencv_remap: cannot read the inputs\n");
        return 1;
    }
    cv::Mat map(h, w, CV_32FC2);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            map.at<cv::Vec2f>(y, x) = cv::Vec2f(x + flow[(size_t)y * w + x], y + flow[hw + (size_t)y * w + x]);
    for (int k = 0; k < c; k++) {
        cv::Mat src(h, w, CV_32FC1, img.data() + k * hw), dst(h, w, CV_32FC1, out.data() + k * hw);
        cv::remap(src, dst, map, cv::noArray(), cv::INTER_LINEAR, border, cv::Scalar(0));
    }
    FILE *f = std::fopen(argv[7], "wb");
    if (!f || std::fwrite(out.data(), sizeof(float), out.size(), f) != out.size()) return 1;
    return std::fclose(f) == 0 ? 0 : 1;
}
