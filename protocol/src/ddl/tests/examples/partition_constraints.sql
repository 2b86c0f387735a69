CREATE TABLE f_prt_com5
(
  a int DEFAULT 10,
  b int,
  c VARCHAR NOT NULL DEFAULT 'def val parent'
)
PARTITION BY RANGE(a)
(
  PARTITION f_prt_com5_p1 (CONSTRAINT con_f_prt_com5_p1 CHECK ( a != 19 ))
    FOR VALUES FROM (0) TO (100)
  PARTITION BY RANGE(a)
  (
    PARTITION f_prt_com5_p1_1 (CONSTRAINT con_f_prt_com5_p1_1 CHECK ( a != 9 ))
      FOR VALUES FROM (0) TO (10),
    PARTITION f_prt_com5_p1_2 FOR VALUES FROM (10) TO (20),
    PARTITION f_prt_com5_p1_3 (CONSTRAINT con_f_prt_com5_p1_3 CHECK ( a != 90 ))
      DEFAULT
  ),
  PARTITION f_prt_com5_p2 FOR VALUES FROM (100) TO (200)
  PARTITION BY LIST(b)
  (
        PARTITION f_prt_com5_p2_1 (UNIQUE(a)) FOR VALUES IN (1,3,5,7),
        PARTITION f_prt_com5_p2_2 (UNIQUE(b)) FOR VALUES IN (2,4,6,8),
        PARTITION f_prt_com5_p2_3 (UNIQUE(c)) DEFAULT
    ),
    PARTITION f_prt_com5_p3 DEFAULT
    PARTITION BY HASH(c)
    (
        PARTITION f_prt_com5_p3_1 (CONSTRAINT PK_f_prt_com5_p3_1 PRIMARY KEY(a))
            FOR VALUES WITH (MODULUS 3, REMAINDER 0),
        PARTITION f_prt_com5_p3_2 (CONSTRAINT FK_f_prt_com5_p3_2 FOREIGN KEY(a)
            REFERENCES f_prt_com5_p2_2(b)) FOR VALUES WITH (MODULUS 3, REMAINDER 1),
        PARTITION f_prt_com5_p3_3 FOR VALUES WITH (MODULUS 3, REMAINDER 2)
    )
);