package api

// Socket returns the path of the unix socket the client talks to.
func (c *Client) Socket() string { return c.socket }
