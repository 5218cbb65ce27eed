package api

// AddEntry puts an entry into the server's catalog as it is.
func AddEntry(s *Server, e Entry) {
	if err := s.cat.add(e); err != nil {
		panic(err)
	}
}
