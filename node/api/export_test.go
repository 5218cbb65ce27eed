package api

// AddEntry puts an entry into the server's catalog as it is.
func AddEntry(s *Server, e Entry) {
	if err := s.cat.add(e); err != nil {
		panic(err)
	}
}

// The stripe body's codec.
var (
	ParseStripe = parseStripe
	StripeLen   = stripeLen
	StripeHead  = stripeHead
)

const (
	MaxDescriptorLen = maxDescriptorLen
	MaxStripeHead    = maxStripeHead
)
