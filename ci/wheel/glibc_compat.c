/* glibc symbols newer than the wheel's glibc (2.28, ci/build-wheel.sh) that Debian 12's
   static archives reference: LLVM's and libstdc++'s objects were compiled against glibc
   2.36's headers.  Defined here hidden (never exported, never interposing the process's
   own), so the extension links against glibc 2.28 and loads on any glibc since.  Only the
   wheel links this file; a development build uses the system's glibc as it is. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HIDDEN __attribute__((visibility("hidden")))

/* glibc 2.32: libstdc++'s headers (GCC 12) skip atomic reference counts when the process
   is known single-threaded.  0 = "maybe threaded": always atomic, always safe. */
HIDDEN char __libc_single_threaded = 0;

/* glibc 2.36: LLVM's Process::GetRandomNumber (hash seeds). */
HIDDEN uint32_t arc4random(void) {
  uint32_t value = 0;
  if (syscall(SYS_getrandom, &value, sizeof value, 0) != (long)sizeof value)
    value = (uint32_t)(uintptr_t)&value ^ (uint32_t)getpid();
  return value;
}

/* glibc 2.33: LLVM's Process::GetMallocUsage, from the older mallinfo's int fields.
   (Declared here, not from <malloc.h>: zig's header declares mallinfo2 for every glibc.) */
struct mallinfo {
  int arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
};
extern struct mallinfo mallinfo(void);
struct mallinfo2_fields {
  size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks,
      keepcost;
};
HIDDEN struct mallinfo2_fields mallinfo2(void) {
  struct mallinfo m = mallinfo();
  struct mallinfo2_fields r = {
      (unsigned)m.arena,   (unsigned)m.ordblks,  (unsigned)m.smblks,   (unsigned)m.hblks,
      (unsigned)m.hblkhd,  (unsigned)m.usmblks,  (unsigned)m.fsmblks,  (unsigned)m.uordblks,
      (unsigned)m.fordblks, (unsigned)m.keepcost};
  return r;
}

/* glibc 2.25: libstdc++'s std::random_device; only needed below 2.25 (a 2.17 wheel). */
HIDDEN int getentropy(void *buffer, size_t length) {
  if (length > 256) {
    errno = EIO;
    return -1;
  }
  return syscall(SYS_getrandom, buffer, length, 0) == (long)length ? 0 : -1;
}
