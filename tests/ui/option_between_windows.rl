# An algorithm, like every option, is the whole rule's.
policy p
input key
r: ANY /** by key: 25/1m fixed, 40/1h sliding
s: GET /search by key: 10/1s sliding, 100/1m
t: GET /x by key: 25/1m sliding, 1000/1mo fixed
u: GET /y by key: 25/1m fixed, 40/1h bucket burst 5
