policy one
policy two
default sliding
default fixed
input key
POST /tokens by key: 10/1s
