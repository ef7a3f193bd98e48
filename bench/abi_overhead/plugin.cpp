#include "bench_model.hpp"

GENLAB_PLUGIN(IdentityModel)
