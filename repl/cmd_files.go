package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kinspect/kinspect/kstructs"
)

// filesFD is one descriptor in `files --json`.
type filesFD struct {
	FD     int    `json:"fd"`
	File   string `json:"file"`
	Dentry string `json:"dentry"`
	Inode  string `json:"inode"`
	Type   string `json:"type"` // REG, DIR, CHR, BLK, FIFO, PIPE, SOCK, LNK, UNKN, ?
	Path   string `json:"path"`
	Error  string `json:"error,omitempty"`
}

// filesTask is one task in `files --json`.
type filesTask struct {
	PID   int       `json:"pid"`
	Task  string    `json:"task"`
	Comm  string    `json:"comm"`
	Root  string    `json:"root"`
	CWD   string    `json:"cwd"`
	FDs   []filesFD `json:"fds"`
	Error string    `json:"error,omitempty"`
	text  string
}

type filesResult struct {
	Tasks []filesTask `json:"tasks"`
}

func (r filesResult) Text(w io.Writer, s *Session) error {
	for _, t := range r.Tasks {
		io.WriteString(w, t.text)
	}
	return nil
}

func filesCmd() *Command {
	return &Command{
		Name:     "files",
		Synopsis: "files [pid|taskp ...] | -d DENTRY",
		Summary:  "open files: a task's root, cwd and file descriptors",
		Description: "Prints, for the context task or the given tasks, the root and working directories and every " +
			"open file descriptor with its struct file, dentry, inode, type and path (built from the dentry " +
			"and mount chains as crash does: pipes and sockets have no path). -d DENTRY prints a dentry's inode, super block " +
			"(the inode's i_sb, else d_sb), type and path, named through the mount of pid 1's namespace on that super block " +
			"(or pipe_mnt/sock_mnt) as crash's files -d does. --json gives the same per task or dentry.",
		Examples: []string{"files", "files 1", "files --json 1", "files -d ffff888003a1c040"},
		Flags:    []Flag{{Short: "d", Arg: "DENTRY", Help: "show one dentry: inode, super block, type, path"}},
		Complete: ArgTask,
		Run:      runFiles,
	}
}

func runFiles(s *Session, inv *Invocation) (Result, error) {
	if inv.Has("d") {
		return s.filesDentry(inv.Flag("d"))
	}
	tasks, err := s.argTasks(inv)
	if err != nil {
		return nil, err
	}
	r := filesResult{Tasks: []filesTask{}}
	for _, t := range tasks {
		if err := s.Context().Err(); err != nil {
			return nil, err
		}
		r.Tasks = append(r.Tasks, s.filesOf(t))
	}
	return r, nil
}

func (s *Session) filesOf(t *kstructs.Task) filesTask {
	var b strings.Builder
	b.WriteString(s.taskHeader(t, false))
	ft := filesTask{PID: t.PID, Task: s.addr(t.Addr), Comm: t.Comm, FDs: []filesFD{}}
	tf, err := s.K.Files(t)
	if tf == nil {
		ft.Error = err.Error()
		fmt.Fprintf(&b, "files: %v\n\n", err)
		ft.text = b.String()
		return ft
	}
	ft.Root, ft.CWD = tf.Root, tf.CWD
	fmt.Fprintf(&b, "ROOT: %s    CWD: %s\n", tf.Root, tf.CWD)
	w, sp := s.hexWidth(), s.minSpace()
	if len(tf.Files) == 0 && err == nil {
		b.WriteString("No open files\n\n")
		ft.text = b.String()
		return ft
	}
	b.WriteString(" FD" + sp + crashCenter("FILE", w, false) + sp + crashCenter("DENTRY", w, false) + sp +
		crashCenter("INODE", w, false) + sp + "TYPE" + sp + "PATH\n")
	for _, f := range tf.Files {
		j := filesFD{FD: f.FD, File: s.addr(f.File), Dentry: s.addr(f.Dentry), Inode: s.addr(f.Inode), Type: f.Type, Path: f.Path}
		if f.Err != nil {
			j.Error = f.Err.Error()
		}
		ft.FDs = append(ft.FDs, j)
		switch {
		case f.Dentry == 0:
			fmt.Fprintf(&b, "%3d%s%s%s%s%s%s%s%s%s%s\n", f.FD, sp, crashCenter(fmt.Sprintf("%x", f.File), w, true), sp,
				fmt.Sprintf("%0*x", w, 0), sp, crashCenter("?", w, false), sp, "?   ", sp, "?")
		case f.Inode == 0:
			fmt.Fprintf(&b, "%3d%s%x%s%x%s%0*x%s%s%s%s\n", f.FD, sp, f.File, sp, f.Dentry, sp, w, 0, sp, "?   ", sp, "?")
		default:
			fmt.Fprintf(&b, "%3d%s%x%s%x%s%x%s%-4s%s%s\n", f.FD, sp, f.File, sp, f.Dentry, sp, f.Inode, sp, f.Type, sp, f.Path)
		}
		if f.Err != nil {
			fmt.Fprintf(&b, "files: fd %d: %v\n", f.FD, f.Err)
		}
	}
	if err != nil {
		ft.Error = err.Error()
		fmt.Fprintf(&b, "files: %v\n", err)
	}
	b.WriteString("\n")
	ft.text = b.String()
	return ft
}

// mountJSON is one mount in `mount --json`.
type mountJSON struct {
	Mount      string `json:"mount"`
	SuperBlock string `json:"superblk"`
	Type       string `json:"type"`
	DevName    string `json:"devname"`
	DirName    string `json:"dirname"`
	Error      string `json:"error,omitempty"`
}

type mountResult struct {
	Mounts []mountJSON `json:"mounts"`
	Error  string      `json:"error,omitempty"`
}

func (r mountResult) Text(w io.Writer, s *Session) error {
	hw := s.hexWidth()
	fmt.Fprintf(w, "%s %s %-6s %-9s DIRNAME\n", crashCenter("MOUNT", hw, false), crashCenter("SUPERBLK", hw, false), "TYPE", "DEVNAME")
	for _, m := range r.Mounts {
		td := fmt.Sprintf("%-6s %-9s ", m.Type, m.DevName)
		for len(td) > 17 && td[len(td)-2] == ' ' {
			td = td[:len(td)-1]
		}
		fmt.Fprintf(w, "%*s %*s %s%-10s\n", hw, m.Mount, hw, m.SuperBlock, td, m.DirName)
		if m.Error != "" {
			fmt.Fprintf(w, "mount: %s: %s\n", m.Mount, m.Error)
		}
	}
	if r.Error != "" {
		fmt.Fprintf(w, "mount: %s\n", r.Error)
	}
	return nil
}

func mountCmd() *Command {
	return &Command{
		Name:     "mount",
		Synopsis: "mount",
		Summary:  "mounted file systems of the init mount namespace",
		Description: "Lists the mounts of pid 1's mount namespace in crash's order (the namespace's mount list, " +
			"or its rb-tree on 6.8+): struct mount, super_block, file system type, device name and mount point. " +
			"--json gives one object per mount.",
		Examples: []string{"mount", "mount --json"},
		Run:      runMount,
	}
}

func runMount(s *Session, inv *Invocation) (Result, error) {
	if len(inv.Args) > 0 {
		return nil, &UsageError{"mount", "takes no argument"}
	}
	ms, err := s.K.Mounts()
	if ms == nil && err != nil {
		return nil, err
	}
	r := mountResult{Mounts: []mountJSON{}}
	for _, m := range ms {
		j := mountJSON{Mount: fmt.Sprintf("%x", m.Addr), SuperBlock: fmt.Sprintf("%x", m.SuperBlock), Type: m.Type,
			DevName: m.DevName, DirName: m.DirName}
		if m.Err != nil {
			j.Error = m.Err.Error()
		}
		r.Mounts = append(r.Mounts, j)
	}
	if err != nil {
		r.Error = err.Error()
	}
	return r, nil
}

// dentryResult is files -d.
type dentryResult struct {
	Dentry     string `json:"dentry"`
	Inode      string `json:"inode"`
	SuperBlock string `json:"superblock"`
	Type       string `json:"type"` // REG, DIR, CHR, BLK, FIFO, PIPE, SOCK, LNK, UNKN, N/A
	Path       string `json:"path"`
	Error      string `json:"error,omitempty"`
	di         kstructs.DentryInfo
}

func (s *Session) filesDentry(arg string) (Result, error) {
	a, err := s.resolveAddress(arg)
	if err != nil {
		return nil, err
	}
	di, err := s.K.Dentry(a)
	if di == nil {
		return nil, fmt.Errorf("files -d: %w", err)
	}
	r := dentryResult{Dentry: s.addr(di.Dentry), Inode: s.addr(di.Inode), SuperBlock: s.addr(di.SuperBlock), Type: di.Type, Path: di.Path, di: *di}
	if err != nil {
		r.Error = err.Error()
	}
	return r, nil
}

// Text is crash's display_dentry_info (filesys.c).
func (r dentryResult) Text(w io.Writer, s *Session) error {
	hw, sp := s.hexWidth(), s.minSpace()
	di := r.di
	fmt.Fprintf(w, "%s%s%s%s%s%sTYPE%sPATH\n", crashCenter("DENTRY", hw, false), sp, crashCenter("INODE", hw, false), sp,
		crashCenter("SUPERBLK", hw, false), sp, sp)
	fmt.Fprintf(w, "%*x%s%*x%s%s%s%-4s%s%s\n", hw, di.Dentry, sp, hw, di.Inode, sp, crashCenter(fmt.Sprintf("%x", di.SuperBlock), hw, false),
		sp, r.Type, sp, r.Path)
	if r.Error != "" {
		fmt.Fprintf(w, "files: %s\n", r.Error)
	}
	return nil
}
