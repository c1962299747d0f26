package ownership

// Clock is the SQL expression s claims by: the database's time in
// milliseconds since 1970.
func Clock(s *SQLStore) string { return s.clock }

// SetClock makes s claim by expr, as a database whose clock differs.
func SetClock(s *SQLStore, expr string) { s.clock = expr }
