"""Every path of the documented API, sorted, one entry per operation (a path with GET and POST is
listed twice). Three tests compare the app's OpenAPI document and the docs pages with it, so a
route that appears or vanishes unannounced fails them; one list keeps them from drifting apart."""

API_OPERATION_PATHS = sorted([
    "/api/daily_papers", "/api/papers", "/api/papers/search", "/api/papers/{paper_id}",
    "/api/v1/collections", "/api/v1/collections",
    "/api/v1/collections/{collection_id}", "/api/v1/collections/{collection_id}",
    "/api/v1/collections/{collection_id}",
    "/api/v1/collections/{collection_id}/papers/{paper_id}",
    "/api/v1/collections/{collection_id}/papers/{paper_id}",
    "/api/v1/comments/{comment_id}", "/api/v1/comments/{comment_id}",
    "/api/v1/comments/{comment_id}/vote", "/api/v1/comments/{comment_id}/vote",
    "/api/v1/flags",
    "/api/v1/me",
    "/api/v1/moderation/comments/{comment_id}/hide",
    "/api/v1/moderation/comments/{comment_id}/unhide",
    "/api/v1/moderation/flags", "/api/v1/moderation/flags/dismiss", "/api/v1/moderation/log",
    "/api/v1/moderation/papers/{paper_id}/lock", "/api/v1/moderation/papers/{paper_id}/unlock",
    "/api/v1/moderation/papers/{paper_id}/hide", "/api/v1/moderation/papers/{paper_id}/unhide",
    "/api/v1/moderation/users/{username}/suspend",
    "/api/v1/moderation/users/{username}/unsuspend",
    "/api/v1/papers/{paper_id}",
    "/api/v1/papers/{paper_id}/comments", "/api/v1/papers/{paper_id}/comments",
    "/api/v1/papers/{paper_id}/vote", "/api/v1/papers/{paper_id}/vote",
    "/api/v1/search",
    "/api/v1/submissions",
])
