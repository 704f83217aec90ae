input app
GET /enrich by app: 100/1mo sliding
