package repl

// commandTable is every command kinspect has. Add a command by writing a
// constructor in its own file and listing it here; help, completion and the
// README reference pick it up.
func commandTable() []*Command {
	return []*Command{
		helpCmd(),
		aliasCmd(),
		sysCmd(),
		machCmd(),
		symCmd(),
		rdCmd(),
		disCmd(),
		vtopCmd(),
		ptovCmd(),
		psCmd(),
		taskCmd(),
		runqCmd(),
		contextCmd(),
		foreachCmd(),
		listCmd(),
		treeCmd(),
		btCmd(),
		printCmd(),
		structCmd(),
		unionCmd(),
		whatisCmd(),
		vviewCmd(),
		rqCmd(),
		schedClassCmd(),
		logCmd(),
		triageCmd(),
		sourceCmd(),
		starCmd(),
		kmemCmd(),
		searchCmd(),
		vmCmd(),
		filesCmd(),
		mountCmd(),
		traceCmd(),
	}
}
