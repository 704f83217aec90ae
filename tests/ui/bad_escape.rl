input key
ANY /** when key == "\u{D800}" by key: 1/1s
