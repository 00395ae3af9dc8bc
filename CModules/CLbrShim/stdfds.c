/* Runs before main (and before the Swift runtime opens anything): every one of descriptors 0-2 that is
 * closed gets /dev/null (read-only for 0, write-only for 1 and 2), and which ones were closed is
 * remembered for the CLI to report (exit 74 when standard output was closed). */
#include "include/lbr_shim_stdfds.h"
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

static int closed_at_start;

__attribute__((constructor)) static void lbr_stdfds_check(void) {
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
        closed_at_start |= 1 << fd;
        /* open returns the lowest free descriptor: fd itself, since the lower ones are open by now. */
        int got = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (got >= 0 && got != fd) { dup2(got, fd); close(got); }
    }
}

int lbr_stdfds_closed_at_start(void) { return closed_at_start; }
