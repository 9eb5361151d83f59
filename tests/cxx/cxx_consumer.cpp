// SPDX-License-Identifier: MIT
// cxx_consumer.cpp - a C++17 program that uses the library the way a C++
// user would: RAII wrappers over the opaque handles, a child process that
// counts under a Lock into a shared Value, and a Queue carrying bytes back.
// Prints "cxx_consumer: ok" when every step gave what it should.
#include <multiproc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

namespace
{

// check ends the program with the library's message when a call failed.
void
check(int rc, const char *what)
{
    if (rc < 0) {
        std::fprintf(stderr, "cxx_consumer: %s: %s\n", what, mp_strerror(rc));
        std::exit(1);
    }
}

struct value_deleter {
    void operator()(mp_value_t *v) const
    {
        mp_value_destroy(v);
    }
};
struct queue_deleter {
    void operator()(mp_queue_t *q) const
    {
        mp_queue_destroy(q);
    }
};
using value_ptr = std::unique_ptr<mp_value_t, value_deleter>;
using queue_ptr = std::unique_ptr<mp_queue_t, queue_deleter>;

struct shared_state {
    mp_value_t *counter;
    mp_queue_t *replies;
};

constexpr int kChildren = 3;
constexpr int kIncrements = 500;

// child adds kIncrements to the counter under its lock, then says so.
int
child(void *arg)
{
    auto *state = static_cast<shared_state *>(arg);
    mp_lock_t *lock = mp_value_get_lock(state->counter);
    for (int i = 0; i < kIncrements; i++) {
        if (mp_lock_acquire(lock, MP_WAIT_FOREVER) < 0)
            return 2;
        *static_cast<int *>(mp_value_ptr(state->counter)) += 1;
        mp_lock_release(lock);
    }
    const std::string done =
        "done " + std::to_string(mp_process_pid(mp_current_process()));
    return mp_queue_put(state->replies, done.data(), done.size(),
                        MP_WAIT_FOREVER) < 0
               ? 3
               : 0;
}

} // namespace

int
main()
{
    mp_value_t *raw_value = nullptr;
    check(mp_value_create(&raw_value, MP_TYPE_INT, nullptr, nullptr),
          "mp_value_create");
    value_ptr counter(raw_value);
    mp_queue_t *raw_queue = nullptr;
    check(mp_simple_queue_create(&raw_queue), "mp_simple_queue_create");
    queue_ptr replies(raw_queue);

    shared_state state{counter.get(), replies.get()};
    mp_process_t *children[kChildren];
    // An options struct as C++ code makes one (no designated initializers
    // before C++20): the initializer sets its size.
    mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
    opts.start_method = MP_START_FORK;
    for (auto &p : children) {
        check(mp_process_create(&p, child, &state, &opts), "mp_process_create");
        check(mp_process_start(p), "mp_process_start");
    }
    int got = 0;
    for (int i = 0; i < kChildren; i++) {
        void *msg = nullptr;
        ssize_t len = mp_queue_get(replies.get(), &msg, 30000);
        check(static_cast<int>(len), "mp_queue_get");
        if (len > 5 && std::memcmp(msg, "done ", 5) == 0)
            got++;
        mp_free(msg);
    }
    for (auto *p : children) {
        check(mp_process_join(p, 30000), "mp_process_join");
        int code = -1;
        check(mp_process_exitcode(p, &code), "mp_process_exitcode");
        if (code != 0) {
            std::fprintf(stderr, "cxx_consumer: a child exited %d\n", code);
            return 1;
        }
        mp_process_destroy(p);
    }
    int total = 0;
    check(mp_value_get(counter.get(), &total), "mp_value_get");
    if (got != kChildren || total != kChildren * kIncrements) {
        std::fprintf(stderr, "cxx_consumer: %d replies, total %d\n", got,
                     total);
        return 1;
    }
    std::printf("cxx_consumer: ok (%d children, total %d)\n", kChildren, total);
    return 0;
}
