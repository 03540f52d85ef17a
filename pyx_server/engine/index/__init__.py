"""Finding packages: the HTTP client, index pages, the index client, the resolver's provider."""
