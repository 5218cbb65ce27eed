package client

import "context"

// Dashboard is the answer to GET /v1/dashboard.
type Dashboard struct {
	// URL is the node's web dashboard, with its token; empty if the
	// node serves none.
	URL string `json:"url"`
}

// Dashboard returns the URL of the node's web dashboard, token included
// ("" if it serves none).
func (c *Client) Dashboard(ctx context.Context) (string, error) {
	var d Dashboard
	err := c.getJSON(ctx, "/v1/dashboard", &d)
	return d.URL, err
}
