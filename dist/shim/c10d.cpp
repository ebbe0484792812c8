// A C interface to the parts of libtorch's c10d that amt's data-parallel training uses:
// TCPStore rendezvous, a Gloo process group, and the collectives. Every function catches
// every C++ exception and returns it as text (the caller adds the rank), so nothing aborts.
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif

#include <chrono>
#include <cstdint>
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

struct amt_store {
  c10::intrusive_ptr<c10d::Store> store;
};

struct amt_pg {
  c10::intrusive_ptr<c10d::Backend> backend;
};

struct amt_work {
  c10::intrusive_ptr<c10d::Work> work;
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

}  // extern "C"
