// A C interface to the parts of libtorch's c10d that amt's data-parallel training uses:
// TCPStore rendezvous, a Gloo process group, and the collectives. Every function catches
// every C++ exception and returns it as text (the caller adds the rank), so nothing aborts.
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

void put_error(char* err, size_t len, const char* what) {
  if (err != nullptr && len > 0) {
    std::snprintf(err, len, "%s", what);
  }
}

// Runs `f`, turning any exception into a message and a non-zero return.
template <typename F>
int guarded(char* err, size_t len, F&& f) {
  try {
    f();
    return 0;
  } catch (const c10::Error& e) {
    put_error(err, len, e.what_without_backtrace());
  } catch (const std::exception& e) {
    put_error(err, len, e.what());
  } catch (...) {
    put_error(err, len, "an unknown C++ exception");
  }
  return 1;
}

}  // namespace

struct amt_grad_sync;
namespace {

// Sends every bucket that is full and whose predecessors are sent (`g->mu` held).
void send_ready(amt_grad_sync* g);

// Removes the hooks a free function's object registered (never throws: called on cleanup).
void remove_hooks(std::vector<at::Tensor>& params, const std::vector<unsigned>& hooks) {
  for (size_t i = 0; i < hooks.size(); ++i) {
    try {
      params[i].remove_hook(hooks[i]);
    } catch (...) {
    }
  }
}

}  // namespace

struct amt_store {
  c10::intrusive_ptr<c10d::Store> store;
};

struct amt_pg {
  c10::intrusive_ptr<c10d::Backend> backend;
};

struct amt_work {
  c10::intrusive_ptr<c10d::Work> work;
};

// Gradient buckets all-reduced during the backward pass. A hook on each parameter copies its
// gradient into its bucket's flat buffer; a full bucket is sent at once, but only after every
// bucket before it, so every rank starts the same collectives in the same order whatever the
// order its hooks fire in (a parameter a rank did not use fires no hook: its bucket goes at
// the end of the pass, from `amt_grad_sync_finish`).
struct amt_grad_sync {
  c10::intrusive_ptr<c10d::Backend> backend;
  std::vector<at::Tensor> params;
  std::vector<unsigned> hooks;
  std::vector<int64_t> bucket_of, offset_of;  // per parameter
  std::vector<at::Tensor> flats;               // per bucket
  std::vector<int64_t> expected;               // parameters per bucket
  std::mutex mu;                               // guards everything below
  std::vector<int64_t> filled;                 // per bucket
  std::vector<char> got;                       // per parameter, this pass
  std::vector<c10::intrusive_ptr<c10d::Work>> works;  // per bucket, this pass
  size_t next = 0;                             // the first bucket not sent yet
  std::string error;                           // the first failure inside a hook
};

extern "C" {

int amt_has_gloo() {
#ifdef USE_C10D_GLOO
  return 1;
#else
  return 0;
#endif
}

// A TCPStore: the server (rank 0 of the group, `is_server`) or a client of it.
amt_store* amt_store_new(const char* host, int port, int is_server, int world,
                         int64_t timeout_ms, char* err, size_t len) {
  amt_store* out = nullptr;
  guarded(err, len, [&] {
    c10d::TCPStoreOptions o;
    o.port = static_cast<uint16_t>(port);
    o.isServer = is_server != 0;
    if (world > 0) {
      o.numWorkers = world;
    }
    o.waitWorkers = world > 0;
    o.timeout = std::chrono::milliseconds(timeout_ms);
    auto s = c10::make_intrusive<c10d::TCPStore>(std::string(host), o);
    out = new amt_store{s};
  });
  return out;
}

void amt_store_free(amt_store* s) { delete s; }

int amt_store_set(amt_store* s, const char* key, const uint8_t* data, size_t n, char* err,
                  size_t len) {
  return guarded(err, len, [&] {
    std::vector<uint8_t> v(data, data + n);
    s->store->set(std::string(key), v);
  });
}

int amt_store_check(amt_store* s, const char* key, int* present, char* err, size_t len) {
  return guarded(err, len, [&] {
    *present = s->store->check({std::string(key)}) ? 1 : 0;
  });
}

// Reads `key` (waiting for it up to the store's timeout); the bytes are malloc'ed.
int amt_store_get(amt_store* s, const char* key, uint8_t** data, size_t* n, char* err,
                  size_t len) {
  return guarded(err, len, [&] {
    auto v = s->store->get(std::string(key));
    *n = v.size();
    *data = static_cast<uint8_t*>(std::malloc(v.empty() ? 1 : v.size()));
    if (*data == nullptr) {
      throw std::bad_alloc();
    }
    if (!v.empty()) {
      std::memcpy(*data, v.data(), v.size());
    }
  });
}

void amt_bytes_free(uint8_t* data) { std::free(data); }

int amt_store_add(amt_store* s, const char* key, int64_t delta, int64_t* value, char* err,
                  size_t len) {
  return guarded(err, len, [&] { *value = s->store->add(std::string(key), delta); });
}

// A Gloo process group over `store`. `iface` names the network interface to use (empty:
// the address `host` resolves to, which is right for loopback and for hosts whose name
// resolves to the interface the other machines reach).
amt_pg* amt_pg_new_gloo(amt_store* s, int rank, int world, const char* host, const char* iface,
                        int64_t timeout_ms, char* err, size_t len) {
  amt_pg* out = nullptr;
  guarded(err, len, [&] {
#ifdef USE_C10D_GLOO
    auto opts = c10d::ProcessGroupGloo::Options::create();
    opts->timeout = std::chrono::milliseconds(timeout_ms);
    if (iface != nullptr && iface[0] != '\0') {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(iface));
    } else {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host));
    }
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(s->store, rank, world, opts);
    out = new amt_pg{pg};
#else
    (void)s; (void)rank; (void)world; (void)host; (void)iface; (void)timeout_ms;
    throw std::runtime_error(
        "this amt was built without Gloo's headers; run scripts/bootstrap-libtorch.sh "
        "(it unpacks them into third_party/gloo) and rebuild");
#endif
  });
  return out;
}

void amt_pg_free(amt_pg* pg) { delete pg; }

// Starts an in-place sum all-reduce of `t`; wait for it with amt_work_wait.
amt_work* amt_pg_allreduce_start(amt_pg* pg, at::Tensor* t, char* err, size_t len) {
  amt_work* out = nullptr;
  guarded(err, len, [&] {
    std::vector<at::Tensor> v{*t};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    out = new amt_work{pg->backend->allreduce(v, o)};
  });
  return out;
}

// Waits for `w` and frees it (also on error).
int amt_work_wait(amt_work* w, char* err, size_t len) {
  int rc = guarded(err, len, [&] { w->work->wait(); });
  delete w;
  return rc;
}

int amt_pg_broadcast(amt_pg* pg, at::Tensor* t, int root, char* err, size_t len) {
  return guarded(err, len, [&] {
    std::vector<at::Tensor> v{*t};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    pg->backend->broadcast(v, o)->wait();
  });
}

int amt_pg_barrier(amt_pg* pg, char* err, size_t len) {
  return guarded(err, len, [&] { pg->backend->barrier()->wait(); });
}

// Gathers `in` from every rank into `out`, a tensor of shape (world, *in.shape).
int amt_pg_allgather(amt_pg* pg, at::Tensor* in, at::Tensor* out, char* err, size_t len) {
  return guarded(err, len, [&] {
    int64_t world = out->size(0);
    std::vector<at::Tensor> outs;
    outs.reserve(world);
    for (int64_t i = 0; i < world; ++i) {
      outs.push_back(out->select(0, i));
    }
    std::vector<std::vector<at::Tensor>> outputs{outs};
    std::vector<at::Tensor> inputs{*in};
    pg->backend->allgather(outputs, inputs)->wait();
  });
}

// Hooks every parameter of `params` (bucket `bucket_of[i]` each, buckets numbered in the
// order they are sent; a bucket's parameters share one dtype and device).
amt_grad_sync* amt_grad_sync_new(amt_pg* pg, at::Tensor** params, const int64_t* bucket_of,
                                 size_t n, size_t n_buckets, char* err, size_t len) {
  amt_grad_sync* out = nullptr;
  guarded(err, len, [&] {
    auto g = std::make_unique<amt_grad_sync>();
    g->backend = pg->backend;
    std::vector<int64_t> sizes(n_buckets, 0);
    std::vector<int64_t> first(n_buckets, -1);
    g->expected.assign(n_buckets, 0);
    for (size_t i = 0; i < n; ++i) {
      int64_t b = bucket_of[i];
      if (b < 0 || static_cast<size_t>(b) >= n_buckets) {
        throw std::runtime_error("a gradient bucket index is out of range");
      }
      g->params.push_back(*params[i]);
      g->bucket_of.push_back(b);
      g->offset_of.push_back(sizes[b]);
      sizes[b] += params[i]->numel();
      g->expected[b] += 1;
      if (first[b] < 0) {
        first[b] = static_cast<int64_t>(i);
      }
    }
    for (size_t b = 0; b < n_buckets; ++b) {
      if (first[b] < 0) {
        throw std::runtime_error("an empty gradient bucket");
      }
      auto opts = g->params[first[b]].options().requires_grad(false);
      g->flats.push_back(at::empty({sizes[b]}, opts));
    }
    g->filled.assign(n_buckets, 0);
    g->got.assign(n, 0);
    g->works.resize(n_buckets);
    amt_grad_sync* raw = g.get();
    for (size_t i = 0; i < n; ++i) {
      g->hooks.push_back(g->params[i].register_hook([raw, i](const at::Tensor& grad) {
        std::lock_guard<std::mutex> lock(raw->mu);
        try {
          if (raw->got[i]) {
            throw std::runtime_error(
                "a parameter's gradient arrived twice in one backward pass (train with "
                "--ddp-overlap 0)");
          }
          at::NoGradGuard no_grad;
          int64_t b = raw->bucket_of[i];
          raw->flats[b].narrow(0, raw->offset_of[i], grad.numel()).copy_(grad.reshape({-1}));
          raw->got[i] = 1;
          raw->filled[b] += 1;
          send_ready(raw);
        } catch (const std::exception& e) {
          if (raw->error.empty()) {
            raw->error = e.what();
          }
        }
      }));
    }
    out = g.release();
  });
  return out;
}

// After the backward pass: fills the buckets with the gradients no hook delivered (parameters
// this rank did not use: their current gradient, or zeros), sends what is left in order,
// waits, and writes each gradient back as its sum over ranks times `scale`. `*early` is the
// number of buckets sent during the pass. Resets for the next pass.
int amt_grad_sync_finish(amt_grad_sync* g, double scale, int64_t* early, char* err,
                         size_t len) {
  return guarded(err, len, [&] {
    std::lock_guard<std::mutex> lock(g->mu);
    struct Reset {
      amt_grad_sync* g;
      ~Reset() {
        std::fill(g->filled.begin(), g->filled.end(), 0);
        std::fill(g->got.begin(), g->got.end(), 0);
        for (auto& w : g->works) {
          w.reset();
        }
        g->next = 0;
        g->error.clear();
      }
    } reset{g};
    if (!g->error.empty()) {
      throw std::runtime_error(g->error);
    }
    at::NoGradGuard no_grad;
    *early = static_cast<int64_t>(g->next);
    for (size_t i = 0; i < g->params.size(); ++i) {
      if (g->got[i]) {
        continue;
      }
      int64_t b = g->bucket_of[i];
      auto slot = g->flats[b].narrow(0, g->offset_of[i], g->params[i].numel());
      const auto& grad = g->params[i].grad();
      if (grad.defined()) {
        slot.copy_(grad.reshape({-1}));
      } else {
        slot.zero_();
      }
      g->got[i] = 1;
      g->filled[b] += 1;
    }
    send_ready(g);
    for (auto& w : g->works) {
      if (!w) {
        throw std::runtime_error("a gradient bucket was never sent (a bug in amt)");
      }
      w->wait();
    }
    for (auto& f : g->flats) {
      f.mul_(scale);
    }
    for (size_t i = 0; i < g->params.size(); ++i) {
      auto& p = g->params[i];
      auto slot = g->flats[g->bucket_of[i]].narrow(0, g->offset_of[i], p.numel()).view(p.sizes());
      auto& grad = p.mutable_grad();
      if (grad.defined()) {
        grad.copy_(slot);
      } else {
        grad = slot.clone();
      }
    }
  });
}

// Watches one backward pass: the order in which the gradients of `params` arrive.
struct amt_grad_order {
  std::vector<at::Tensor> params;
  std::vector<unsigned> hooks;
  std::mutex mu;
  std::vector<int64_t> seen;
};

amt_grad_order* amt_grad_order_new(at::Tensor** params, size_t n, char* err, size_t len) {
  amt_grad_order* out = nullptr;
  guarded(err, len, [&] {
    auto o = std::make_unique<amt_grad_order>();
    amt_grad_order* raw = o.get();
    for (size_t i = 0; i < n; ++i) {
      o->params.push_back(*params[i]);
      o->hooks.push_back(o->params[i].register_hook([raw, i](const at::Tensor&) {
        std::lock_guard<std::mutex> lock(raw->mu);
        raw->seen.push_back(static_cast<int64_t>(i));
      }));
    }
    out = o.release();
  });
  return out;
}

// Copies up to `cap` indices, in arrival order, into `out`; returns how many arrived.
size_t amt_grad_order_take(amt_grad_order* o, int64_t* out, size_t cap) {
  std::lock_guard<std::mutex> lock(o->mu);
  size_t n = std::min(cap, o->seen.size());
  std::copy(o->seen.begin(), o->seen.begin() + static_cast<std::ptrdiff_t>(n), out);
  return o->seen.size();
}

void amt_grad_order_free(amt_grad_order* o) {
  remove_hooks(o->params, o->hooks);
  delete o;
}

void amt_grad_sync_free(amt_grad_sync* g) {
  remove_hooks(g->params, g->hooks);
  delete g;
}

}  // extern "C"

namespace {

void send_ready(amt_grad_sync* g) {
  while (g->next < g->flats.size() && g->filled[g->next] == g->expected[g->next]) {
    std::vector<at::Tensor> v{g->flats[g->next]};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    g->works[g->next] = g->backend->allreduce(v, o);
    g->next += 1;
  }
}

}  // namespace
