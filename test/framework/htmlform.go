package framework

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// Form is an HTML form found in a page.
type Form struct {
	Action string
	Method string
	Values url.Values
}

// Forms parses the forms of an HTML page; actions are resolved against
// base.
func Forms(body string, base *url.URL) ([]Form, error) {
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parsing HTML: %w", err)
	}
	var forms []Form
	var cur *Form
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attr := func(k string) string {
				for _, a := range n.Attr {
					if a.Key == k {
						return a.Val
					}
				}
				return ""
			}
			switch n.Data {
			case "form":
				action, _ := base.Parse(attr("action"))
				forms = append(forms, Form{Action: action.String(), Method: strings.ToUpper(attr("method")), Values: url.Values{}})
				cur = &forms[len(forms)-1]
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
				cur = nil
				return
			case "input", "button":
				if cur != nil && attr("name") != "" {
					cur.Values.Set(attr("name"), attr("value"))
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return forms, nil
}

// ReadBody reads and closes a response body.
func ReadBody(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// LoginAtOIDCProvider continues a login that resp (a page of the test OIDC
// provider) is part of: it signs in as user on the development login page,
// confirms the consent page, and returns the first response that is no
// longer the provider's.
func (p *OIDCProvider) LoginAtOIDCProvider(c *http.Client, resp *http.Response, user string) (*http.Response, error) {
	for range 5 {
		// Done when the browser left the provider, or when the client
		// stopped following a redirect.
		if !strings.HasPrefix(resp.Request.URL.String(), p.IssuerURL) || (resp.StatusCode >= 300 && resp.StatusCode < 400) {
			return resp, nil
		}
		body := ReadBody(resp)
		forms, err := Forms(body, resp.Request.URL)
		if err != nil {
			return nil, err
		}
		if len(forms) == 0 {
			return nil, fmt.Errorf("oidc-provider page %s (%s) has no form: %s", resp.Request.URL, resp.Status, body)
		}
		f := forms[0]
		if _, ok := f.Values["login"]; ok {
			f.Values.Set("login", user)
			f.Values.Set("password", "any")
		}
		resp, err = c.PostForm(f.Action, f.Values)
		if err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("login at %s did not finish", p.IssuerURL)
}
