package spool

import "syscall"

// statDisk returns the bytes available to unprivileged users and the size of
// the filesystem holding dir.
func statDisk(dir string) (free, size int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return int64(st.Bavail) * st.Bsize, int64(st.Blocks) * st.Bsize, nil
}
