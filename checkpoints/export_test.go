package checkpoints

// NamedTemp makes file:// stores write through named temporary files, as
// where O_TMPFILE is not available.
var NamedTemp = &namedTemp
