"""A plain HTTP client of the emulator for the emulator's own tests: a keep-alive session with
a valid bearer token, and the two ways clients walk a listing (page numbers, `next` links)."""
import requests


class ApiClient:
    def __init__(self, emu, token=None):
        self.emu = emu
        self.session = requests.Session()
        self.session.headers["Authorization"] = "Bearer " + (token or emu.issue_access_token())

    def get(self, path, **params):
        url = path if path.startswith("http") else self.emu.base_url + path
        return self.session.get(url, params=params or None, timeout=10)

    def json(self, path, **params):
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return response.json()

    def pages(self, path, key, **params):
        """Every item of pages 1 to totalPages, offset paging as a tap does."""
        items, number = [], 1
        while True:
            body = self.json(path, **params, page=number)
            items += embedded(body, key)
            if number >= body["page"]["totalPages"]:
                return items
            number += 1

    def ids(self, path, key, **params):
        return [item["id"] for item in self.pages(path, key, **params)]

    def all_items(self, path, key, **params):
        """Every item, following the `next` links from page 1, as Airbyte-style clients do."""
        body = self.json(path, **params)
        items = list(embedded(body, key))
        while "next" in body["_links"]:
            body = self.json(body["_links"]["next"]["href"])
            items += embedded(body, key)
        return items


def embedded(body, key):
    return body.get("_embedded", {}).get(key, [])
