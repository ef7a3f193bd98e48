// Does this LibTorch's CPU convolution give finite input gradients? Trains nothing: runs
// 540 random 3x3 convolutions (input channels 3..32, output 3..16, 8x8..32x32, batch 4),
// backward through each, and counts those whose input gradient holds a NaN or an infinity.
// scripts/test-debian13.sh runs it before the test suite: Debian 13's LibTorch 2.6 with its
// oneDNN 3.7 gave NaN in a few of them on this project's machines (none with oneDNN held to
// SSE4.1 or disabled), which made the diffusion model's training fail at step 1.
// Prints "<bad> of <total> convolutions with non-finite input gradients"; exits 1 if any.
#include <torch/torch.h>

#include <iostream>

int main() {
  torch::manual_seed(0);
  int bad = 0, total = 0;
  for (int in : {3, 8, 16, 24, 32})
    for (int out : {3, 8, 16})
      for (int side : {8, 16, 32})
        for (int repeat = 0; repeat < 12; ++repeat) {
          const auto x = torch::randn({4, in, side, side}).requires_grad_(true);
          torch::nn::Conv2d conv(torch::nn::Conv2dOptions(in, out, 3).padding(1));
          conv(x).pow(2).mean().backward();
          ++total;
          if (!torch::isfinite(x.grad()).all().item<bool>()) ++bad;
        }
  std::cout << bad << " of " << total << " convolutions with non-finite input gradients\n";
  return bad == 0 ? 0 : 1;
}
